/**
 * `edgellm engine build`: compiles llama-server from the llama.cpp source node-llama-cpp bundles (a git
 * bundle, so no download), with cmake and the system's C++ compiler.
 *
 * Portable by default: ggml's CPU backend is built once per CPU generation as loadable modules
 * (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS) and the best one is picked at startup, so the same folder runs
 * on any x86-64 or arm64 machine. `native` compiles for this CPU only: fewer files, so a faster build.
 * Everything lands in `<build>/bin` (binary, libraries, `libggml-cpu-<variant>` modules, which ggml looks
 * for beside the executable); with an `$ORIGIN` rpath that folder can be renamed into the cache as is.
 */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { findExecutableIn, type LlamaServerBinary, moveIntoPlace, stagingDir } from "./install.js";
import {
  type BundledLlamaCpp,
  bundledLlamaCpp,
  cachedBinaryDir,
  currentPlatform,
  executableName,
  llamaServerCacheDir,
  type Platform,
} from "./paths.js";
import { amxReplacementFor } from "./smoke.js";
import { LlamaServerBinaryError, lastLines } from "./version.js";

export type BuildPhase = "clone" | "configure" | "build";

export interface BuildProgress {
  phase: BuildPhase;
  /** Percent of the build done, 0..100; null before cmake's first progress line. */
  percent: number | null;
}

export interface BuildOptions {
  /** Build only for this CPU (`GGML_NATIVE=ON`): faster to build, but the binary may not run elsewhere. Default false. */
  native?: boolean;
  /** edgellm's data folder. Default: `EDGELLM_HOME`, else `~/.edgellm`. */
  home?: string;
  /** The source to build. Default: the llama.cpp node-llama-cpp bundles. */
  bundled?: BundledLlamaCpp;
  /** Parallel compile jobs. Default: `os.availableParallelism()`. */
  jobs?: number;
  onProgress?: (progress: BuildProgress) => void;
  /** Notes worth a line, e.g. a CPU module removed because it crashed here. */
  log?: (line: string) => void;
  /** Aborts: the build's processes are killed and nothing is cached. */
  /**
   * An AMX CPU module to use if the binary's own crashes here. Default: node-llama-cpp's prebuilt module of
   * the same llama.cpp release ({@link prebuiltAmxModule}); `null`: none (a crashing module is removed).
   */
  amxReplacement?: string | null;
  signal?: AbortSignal;
  /** cmake executable. Default "cmake". */
  cmake?: string;
  /** git executable (to clone the bundle). Default "git". */
  git?: string;
}

/**
 * ggml's AMX matmul segfaulted in llama-server's warm-up on a Xeon VM whose CPU advertises AMX
 * (2026-11-23, scripts/build-llama-server.sh); a native build there would enable it from -march=native.
 */
const NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16";

/** cmake's configure arguments for a portable or native build of llama-server. */
export function cmakeConfigureArgs(opts: {
  sourceDir: string;
  buildDir: string;
  native: boolean;
  platform?: Platform;
}): string[] {
  const { os, arch } = opts.platform ?? currentPlatform();
  const args = [
    "-S",
    opts.sourceDir,
    "-B",
    opts.buildDir,
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=ON",
    // Libraries found through $ORIGIN, not the absolute build path, so the folder can move into the cache.
    "-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    // The child listens on 127.0.0.1 behind edgellm only: no TLS, so no OpenSSL needed to build.
    "-DLLAMA_OPENSSL=OFF",
  ];
  if (opts.native) {
    args.push("-DGGML_NATIVE=ON");
    if (arch === "x64" && os !== "win32")
      args.push(`-DCMAKE_C_FLAGS=${NO_AMX}`, `-DCMAKE_CXX_FLAGS=${NO_AMX}`);
  } else {
    args.push("-DGGML_NATIVE=OFF", "-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON");
  }
  return args;
}

/** cmake's build arguments: only the llama-server target (and the ggml modules it depends on). */
export function cmakeBuildArgs(opts: { buildDir: string; jobs: number }): string[] {
  return [
    "--build",
    opts.buildDir,
    "--config",
    "Release",
    "--target",
    "llama-server",
    "-j",
    String(opts.jobs),
  ];
}

/** Percent done from one line of build output: Makefiles print `[ 45%]`, Ninja `[120/400]`. */
export function parseBuildProgress(line: string): number | undefined {
  const percent = /^\[\s*(\d{1,3})%\]/.exec(line);
  if (percent) return Math.min(100, Number(percent[1]));
  const steps = /^\[(\d+)\/(\d+)\]/.exec(line);
  if (steps && Number(steps[2]) > 0) return Math.floor((Number(steps[1]) / Number(steps[2])) * 100);
  return undefined;
}

/** Builds llama-server and moves it into the cache; returns it at its cache path. */
export async function buildLlamaServer(opts: BuildOptions = {}): Promise<LlamaServerBinary> {
  const bundled = opts.bundled ?? (await bundledLlamaCpp());
  const native = opts.native ?? false;
  const variant = native ? "native" : "portable";
  const jobs = opts.jobs ?? availableParallelism();
  const logPath = join(llamaServerCacheDir(opts.home), `build-${variant}.log`);
  const staging = await stagingDir(opts.home);
  const log = createWriteStream(logPath);
  const report = (phase: BuildPhase, percent: number | null) => opts.onProgress?.({ phase, percent });
  try {
    const sourceDir = join(staging, "llama.cpp");
    const buildDir = join(staging, "build");
    report("clone", null);
    await run(opts.git ?? "git", ["clone", "--quiet", bundled.bundlePath, sourceDir], log, opts.signal);
    report("configure", null);
    await run(opts.cmake ?? "cmake", cmakeConfigureArgs({ sourceDir, buildDir, native }), log, opts.signal);
    report("build", 0);
    let last = 0;
    await run(opts.cmake ?? "cmake", cmakeBuildArgs({ buildDir, jobs }), log, opts.signal, (line) => {
      const percent = parseBuildProgress(line);
      // Each cmake target counts its own steps, so the percent can step back; show the furthest.
      if (percent === undefined || percent <= last) return;
      last = percent;
      report("build", percent);
    });
    if (last < 100) report("build", 100);
    // Multi-config generators (Visual Studio) put it in bin/Release/.
    const executable = await findExecutableIn(join(buildDir, "bin"));
    if (!executable)
      throw new LlamaServerBinaryError(`the build made no ${executableName()} under ${buildDir}/bin`);
    return await moveIntoPlace(
      executable,
      cachedBinaryDir(bundled.tag, variant, { home: opts.home }),
      variant,
      {
        workDir: staging,
        log: opts.log,
        amxReplacement: await amxReplacementFor(opts.amxReplacement, bundled.tag),
      },
    );
  } catch (err) {
    if (err instanceof CommandError) {
      throw new LlamaServerBinaryError(
        `${err.message}; the last lines of its output:\n${lastLines(err.output, 25)}\n(whole log: ${logPath})`,
      );
    }
    throw err;
  } finally {
    await new Promise((resolve) => log.end(resolve));
    await rm(staging, { recursive: true, force: true });
  }
}

class CommandError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** Max characters of a command's output kept in memory for the error message (the log file has all). */
const KEPT_OUTPUT = 64 * 1024;

/**
 * Runs a command, teeing its output to `log` and `onLine`. The command gets its own process group so an
 * abort stops make and every compiler under it, not only cmake.
 */
function run(
  command: string,
  args: string[],
  log: NodeJS.WritableStream,
  signal?: AbortSignal,
  onLine?: (line: string) => void,
): Promise<void> {
  signal?.throwIfAborted();
  log.write(`$ ${command} ${args.join(" ")}\n`);
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    detached: process.platform !== "win32",
  });
  let output = "";
  const onData = (line: string) => {
    log.write(`${line}\n`);
    output = `${output}${line}\n`.slice(-KEPT_OUTPUT);
    onLine?.(line);
  };
  createInterface({ input: child.stdout }).on("line", onData);
  createInterface({ input: child.stderr }).on("line", onData);
  const onAbort = () => {
    if (child.pid === undefined) return;
    try {
      process.kill(process.platform === "win32" ? child.pid : -child.pid, "SIGTERM");
    } catch {
      // already gone
    }
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  return new Promise<void>((resolve, reject) => {
    child.on("error", (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === "ENOENT"
          ? ` (is ${command} installed? building needs git, cmake and a C++ compiler)`
          : "";
      reject(new CommandError(`${command} could not start: ${err.message}${hint}`, output));
    });
    child.on("close", (code, sig) => {
      signal?.removeEventListener("abort", onAbort);
      if (signal?.aborted) reject(signal.reason);
      else if (code === 0) resolve();
      else reject(new CommandError(`${command} ${args[0]} failed (${sig ?? `exit code ${code}`})`, output));
    });
  });
}
