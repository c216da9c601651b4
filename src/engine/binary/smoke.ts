/**
 * Does a binary survive loading a model here? `--version` touches no compute code, but a CPU backend
 * variant the machine cannot run only fails at the first matmul: on the Xeon VM these were written on,
 * the portable build picked ggml's sapphirerapids (AMX) module, which died with SIGILL in llama-server's
 * warm-up (2026-11-24, tiny and 0.5B-shape models alike), while the next variant down served fine.
 * So a new binary loads the tiny synthetic model (0.4 s to write, under a second to load) before it is
 * cached. An AMX module that crashes is first replaced by node-llama-cpp's prebuilt module of the same
 * llama.cpp release, which runs on that VM (llama-server decoded the 0.5B-shape Q4_0 model at 80.6 tokens/s
 * with it against 36 without, 2026-11-24, docs/benchmarks.md); if that crashes too, or there is none, the
 * module is removed so ggml picks the next best one.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { synthesizeModel } from "../../models/synth.js";
import { currentPlatform, nodeLlamaCppDir, type Platform } from "./paths.js";
import { LlamaServerBinaryError, lastLines, spawnOptions } from "./version.js";

/** ggml CPU modules using AMX tiles, whose use a hypervisor or kernel may not allow though the CPU has them. */
const AMX_VARIANTS = ["libggml-cpu-sapphirerapids.so", "ggml-cpu-sapphirerapids.dll"];

export interface SmokeOptions {
  /** How long loading the tiny model may take, in ms. Default 60 000 (a loaded 2-core machine is slow). */
  timeoutMs?: number;
  /** Told when a crashing AMX module was replaced or removed. */
  log?: (line: string) => void;
  /**
   * An AMX module to try in place of one that crashes (see {@link prebuiltAmxModule}). Default: none, so a
   * crashing module is removed.
   */
  amxReplacement?: string;
}

/**
 * node-llama-cpp's prebuilt AMX CPU module for this platform, if its prebuilt binaries come from llama.cpp
 * release `tag` (a module is loaded by a llama-server of the same release only: ggml's backend interface is
 * not stable across releases).
 */
export async function prebuiltAmxModule(
  tag: string,
  platform: Platform = currentPlatform(),
  packageDir: string = nodeLlamaCppDir(),
): Promise<string | undefined> {
  const name = `${platform.os}-${platform.arch}`;
  // npm puts node-llama-cpp's optional platform package beside it, or (when versions clash) inside it.
  for (const root of [join(packageDir, ".."), join(packageDir, "node_modules")]) {
    const bins = join(root, "@node-llama-cpp", name, "bins", name);
    const module = AMX_VARIANTS.map((file) => join(bins, file)).find((p) => existsSync(p));
    if (!module) continue;
    const meta = await readFile(join(bins, "_nlcBuildMetadata.json"), "utf8").then(
      (text) => JSON.parse(text) as { buildOptions?: { llamaCpp?: { release?: unknown } } },
      () => undefined,
    );
    if (meta?.buildOptions?.llamaCpp?.release === tag) return module;
  }
  return undefined;
}

/** An option's AMX replacement: undefined means node-llama-cpp's prebuilt module for `tag`, null none. */
export async function amxReplacementFor(
  option: string | null | undefined,
  tag: string,
): Promise<string | undefined> {
  if (option === null) return undefined;
  return option ?? (await prebuiltAmxModule(tag));
}

/**
 * Writes the tiny model into `workDir`, then smoke-tests `executable`; on a crash with an AMX module
 * beside it, tries `amxReplacement` in its place, then
 * removes it and tries once more. Throws LlamaServerBinaryError if it still fails.
 */
export async function smokeTestWithFallback(
  executable: string,
  workDir: string,
  opts: SmokeOptions = {},
): Promise<void> {
  const model = join(workDir, "smoke-tiny-q4_0.gguf");
  await synthesizeModel({ shape: "tiny", type: "q4_0", seed: 1, out: model });
  try {
    await smokeTest(executable, model, opts);
  } catch (err) {
    const amx = AMX_VARIANTS.map((name) => join(dirname(executable), name)).find((p) => existsSync(p));
    if (!(err instanceof SmokeCrash) || !amx) throw err;
    if (opts.amxReplacement) {
      await copyFile(opts.amxReplacement, amx);
      try {
        await smokeTest(executable, model, opts);
        opts.log?.(
          `llama-server crashed (${err.signal}) with ggml's AMX CPU module; node-llama-cpp's prebuilt module of the same llama.cpp release runs, so it is used instead.`,
        );
        return;
      } catch (again) {
        if (!(again instanceof SmokeCrash)) throw again;
      }
    }
    opts.log?.(
      `llama-server crashed (${err.signal}) with ggml's AMX CPU module; removed it, so the next best is used.`,
    );
    await rm(amx);
    await smokeTest(executable, model, opts);
  } finally {
    await rm(model, { force: true });
  }
}

class SmokeCrash extends LlamaServerBinaryError {
  constructor(
    message: string,
    readonly signal: string,
  ) {
    super(message);
  }
}

/** Starts `executable` on `model` at a free loopback port and waits for /health; stops it either way. */
export async function smokeTest(executable: string, model: string, opts: SmokeOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const port = await freePort();
  const key = randomBytes(16).toString("hex");
  const args = [
    "-m",
    model,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "-c",
    "256",
    "-np",
    "1",
    "-t",
    "1",
  ];
  const child = spawn(resolve(executable), [...args, "--api-key", key], {
    stdio: ["ignore", "pipe", "pipe"],
    ...spawnOptions(executable),
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-8192);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on("error", () => resolve({ code: -1, signal: null }));
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  let exit: { code: number | null; signal: string | null } | undefined;
  void exited.then((e) => {
    exit = e;
  });
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exit) {
        const how = exit.signal ?? `exit code ${exit.code}`;
        const message = `${executable} failed to load a tiny test model (${how}):\n${lastLines(output, 8)}`;
        if (exit.signal) throw new SmokeCrash(message, exit.signal);
        throw new LlamaServerBinaryError(message);
      }
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) }).catch(
        () => undefined,
      );
      if (res?.status === 200) return;
      await sleep(50);
    }
    throw new LlamaServerBinaryError(`${executable} did not load a tiny test model within ${timeoutMs} ms`);
  } finally {
    if (!exit) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
