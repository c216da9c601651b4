/**
 * `edgellm engine [status]`, `edgellm engine build [--native]`, `edgellm engine pull`: the llama-server
 * binary the native engine runs. build and pull print the binary's path on stdout.
 */
import { Command } from "commander";
import { buildLlamaServer } from "../engine/binary/build.js";
import { LLAMA_SERVER_ENV, llamaServerCandidates } from "../engine/binary/find.js";
import type { LlamaServerBinary } from "../engine/binary/install.js";
import { bundledLlamaCpp, llamaServerCacheDir } from "../engine/binary/paths.js";
import { pullLlamaServer } from "../engine/binary/pull.js";
import { checkLlamaServer } from "../engine/binary/version.js";
import { isAbortError } from "../models/download.js";
import { intOption } from "./options.js";
import { percentReporter, progressReporter } from "./progress.js";

const SOURCES = {
  option: "--llama-server",
  env: LLAMA_SERVER_ENV,
  native: "built here for this CPU (edgellm engine build --native)",
  portable: "built here, portable (edgellm engine build)",
  release: "llama.cpp's release (edgellm engine pull)",
  legacy: "scripts/build-llama-server.sh's build",
} as const;

export function engineCommand(): Command {
  return new Command("engine")
    .description("The llama-server binary of the native engine: status, build or pull it")
    .addCommand(statusCommand(), { isDefault: true })
    .addCommand(buildCommand())
    .addCommand(pullCommand());
}

function statusCommand(): Command {
  return new Command("status")
    .description("Which llama-server binary serve would run, its version and where it is (exit 1 if none)")
    .option(
      "--llama-server <path>",
      `a llama-server binary to check (default: ${LLAMA_SERVER_ENV}, then the cache)`,
    )
    .action((opts: { llamaServer?: string }) =>
      reportErrors("status", async () => {
        const bundled = await bundledLlamaCpp();
        const out = (line: string) => process.stdout.write(`${line}\n`);
        out(`bundled llama.cpp: ${bundled.tag} (commit ${bundled.commit?.slice(0, 7) ?? "unknown"})`);
        out(`cache: ${llamaServerCacheDir()}`);
        for (const found of await llamaServerCandidates({ path: opts.llamaServer, bundled })) {
          const version = await checkLlamaServer(found.path).catch((err: Error) => err);
          if (version instanceof Error) {
            out(`skipped: ${found.path} (${SOURCES[found.source]}): ${version.message.split("\n")[0]}`);
            continue;
          }
          out(`binary: ${found.path}`);
          out(`from: ${SOURCES[found.source]}`);
          out(`version: ${version.version}${version.commit ? ` (commit ${version.commit})` : ""}`);
          if (version.commit && bundled.commit && !bundled.commit.startsWith(version.commit)) {
            out("note: not built from the bundled llama.cpp commit");
          }
          return;
        }
        out("binary: none; serve runs the in-process engine.");
        out(
          "Get one with `edgellm engine pull` (download) or `edgellm engine build` (needs cmake and a C++ compiler).",
        );
        process.exitCode = 1;
      }),
    );
}

function buildCommand(): Command {
  return new Command("build")
    .description(
      "Compile llama-server from the llama.cpp source bundled with node-llama-cpp (needs git, cmake, a C++ compiler)",
    )
    .option("--native", "build for this CPU only: quicker to build, may not run on another machine")
    .option("--jobs <n>", "parallel compile jobs (default: the number of CPUs)", intOption(1, 1024))
    .action((opts: { native?: boolean; jobs?: number }) =>
      reportErrors("build", async (signal) => {
        process.stderr.write(
          `Building llama-server (${opts.native ? "native: this CPU only" : "portable: every CPU variant"}); the log is in ${llamaServerCacheDir()}.\n`,
        );
        const reporter = percentReporter("compiling");
        try {
          const binary = await buildLlamaServer({
            native: opts.native,
            jobs: opts.jobs,
            signal,
            log: note,
            onProgress: ({ phase, percent }) => {
              if (phase !== "build")
                process.stderr.write(`${phase === "clone" ? "Cloning the source" : "Configuring"}...\n`);
              else if (percent !== null) {
                reporter.update(percent);
                if (percent === 100) reporter.stop();
              }
            },
          });
          reporter.stop();
          done(binary);
        } finally {
          reporter.stop();
        }
      }),
    );
}

function pullCommand(): Command {
  return new Command("pull")
    .description("Download llama.cpp's release build of llama-server for this platform (verified; resumes)")
    .action(() =>
      reportErrors("pull", async (signal) => {
        const reporter = progressReporter();
        try {
          done(await pullLlamaServer({ onProgress: reporter.update, log: note, signal }));
        } finally {
          reporter.stop();
        }
      }),
    );
}

function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

function done(binary: LlamaServerBinary): void {
  const { version, commit } = binary.version;
  process.stderr.write(`llama-server ${version}${commit ? ` (commit ${commit})` : ""} is ready.\n`);
  process.stdout.write(`${binary.path}\n`);
}

/** Runs `body` with Ctrl-C as an abort; prints errors as one message and sets the exit code. */
async function reportErrors(name: string, body: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  try {
    await body(controller.signal);
  } catch (err) {
    if (isAbortError(err) || controller.signal.aborted) {
      process.stderr.write(
        name === "pull"
          ? "Interrupted; the next pull resumes the download.\n"
          : "Interrupted; nothing was cached.\n",
      );
      process.exitCode = 130;
    } else {
      process.stderr.write(`edgellm engine ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
}
