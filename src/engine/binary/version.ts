/** Does a llama-server binary run here, and which llama.cpp is it? */
import { execFile } from "node:child_process";
import { resolve as absolute, dirname } from "node:path";

/** A llama-server binary that could not be found, built, fetched or run. Never reaches an HTTP client. */
export class LlamaServerBinaryError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "LlamaServerBinaryError";
  }
}

/** What `llama-server --version` says. */
export interface LlamaServerVersion {
  /** "0.5.0-dev" in newer builds, the build number ("6000") in older ones. */
  version: string;
  /** Short commit hash the binary was built from, when printed. */
  commit: string | undefined;
  /** "built with GNU 12.2.0 for Linux x86_64", when printed. */
  builtWith: string | undefined;
}

/** Options of {@link checkLlamaServer}. */
export interface CheckOptions {
  /** How long `--version` may take before the binary counts as broken, in ms. Default 5000. */
  timeoutMs?: number;
}

/**
 * Parses `--version` output. llama.cpp has printed `version: 6000 (abc1234)` and, since it got semantic
 * versions, `version: 0.5.0-dev (build 1, commit abc1234)`; both go to stderr. Now and then (once in a full
 * test run, 2026-11-24) its logger puts a timestamp and level before the line (`0.00.004.649 I version: ...`),
 * so such a prefix is allowed.
 */
export function parseVersionOutput(output: string): LlamaServerVersion | undefined {
  const m = /^(?:[\d.]+ [A-Z] )?version:\s*(\S+)(?:\s*\((?:build \S+, commit )?([0-9a-f]{4,40})\))?/m.exec(
    output,
  );
  if (!m) return undefined;
  const builtWith = /^(?:[\d.]+ [A-Z] )?(built with .+)$/m.exec(output)?.[1].trim();
  return { version: m[1], commit: m[2], builtWith };
}

/**
 * Environment a binary needs to find the shared libraries beside it. Builds from `edgellm engine build`
 * carry an `$ORIGIN` rpath, but a user's binary or a release archive may not, and a wrong libllama from
 * the system would be worse than a failed start.
 */
export function libraryEnv(binaryPath: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const dir = dirname(binaryPath);
  const name =
    process.platform === "darwin"
      ? "DYLD_LIBRARY_PATH"
      : process.platform === "win32"
        ? "PATH"
        : "LD_LIBRARY_PATH";
  const sep = process.platform === "win32" ? ";" : ":";
  const current = base[name];
  return { ...base, [name]: current ? `${dir}${sep}${current}` : dir };
}

/**
 * Working folder and environment to start a binary with. ggml built with GGML_BACKEND_DL loads its CPU
 * modules from the executable's folder and also from the working directory: a stray
 * `libggml-cpu-sapphirerapids.so` in /tmp was picked over the binary's own modules and crashed it
 * (2026-11-24), so the child runs in its own folder.
 */
export function spawnOptions(
  binaryPath: string,
  base: NodeJS.ProcessEnv = process.env,
): { cwd: string; env: NodeJS.ProcessEnv } {
  return { cwd: dirname(absolute(binaryPath)), env: libraryEnv(absolute(binaryPath), base) };
}

/** Runs `binary --version`; resolves with the parsed version or throws LlamaServerBinaryError saying why not. */
export function checkLlamaServer(binaryPath: string, opts: CheckOptions = {}): Promise<LlamaServerVersion> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    execFile(
      // Absolute: it runs in its own folder (see spawnOptions).
      absolute(binaryPath),
      ["--version"],
      { timeout: timeoutMs, killSignal: "SIGKILL", ...spawnOptions(binaryPath), windowsHide: true },
      (err, stdout, stderr) => {
        const output = `${stdout}\n${stderr}`;
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
          const why =
            e.code === "ENOENT"
              ? "no such file"
              : e.code === "EACCES"
                ? "not executable"
                : e.killed
                  ? `no answer to --version within ${timeoutMs} ms`
                  : e.signal
                    ? `killed by ${e.signal}`
                    : `exit code ${e.code}`;
          const tail = lastLines(output, 5);
          reject(
            new LlamaServerBinaryError(`${binaryPath} does not run: ${why}${tail ? `\n${tail}` : ""}`, err),
          );
          return;
        }
        const version = parseVersionOutput(output);
        if (!version) {
          reject(
            new LlamaServerBinaryError(
              `${binaryPath} ran but printed no llama.cpp version; is it llama-server?\n${lastLines(output, 5)}`,
            ),
          );
          return;
        }
        resolve(version);
      },
    );
  });
}

/** The last `n` non-empty lines of `text`. */
export function lastLines(text: string, n: number): string {
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "")
    .slice(-n)
    .join("\n");
}
