import type { EngineChoice } from "../config/engine-settings.js";
import type { Metrics } from "../metrics.js";
import type { EnsureResult } from "./binary/ensure.js";
import type { PromptReuse, SlotEngine } from "./engine-types.js";
import type { EngineLogger } from "./llama-server/child.js";
import { LlamaServerEngine } from "./llama-server/engine.js";
import { LocalEngine } from "./local-engine.js";

export interface EngineSettings {
  choice: EngineChoice;
  /**
   * Finds (or fetches) a llama-server binary, or says why there is none (src/engine/binary/ensure.ts);
   * not called for "in-process".
   */
  llamaServer: () => Promise<EnsureResult>;
  modelPath: string;
  contextSize: number;
  parallel: number;
  threads?: number;
  /** RAM for KV states of conversations that lost their slot, in MiB (either engine). */
  promptCacheMiB: number;
  lookupDecoding?: boolean;
  mmap?: boolean;
  logger?: EngineLogger;
  metrics?: Metrics;
}

export interface LoadedEngine {
  engine: SlotEngine;
  kind: "llama-server" | "in-process";
}

/**
 * Loads the engine `choice` asks for. "auto" runs llama-server when a binary is at hand (on the machine issue #12
 * was measured on it decoded at the memory-bandwidth limit, the in-process engine at 0.6 of it; with the same
 * CPU kernels here, see docs/benchmarks.md), and the in-process engine otherwise or when llama-server fails to
 * start, saying why in the log.
 */
export async function loadEngine(settings: EngineSettings): Promise<LoadedEngine> {
  const log = settings.logger;
  const found = settings.choice === "in-process" ? undefined : await settings.llamaServer();
  const binary = found?.binary?.path;
  if (settings.choice === "llama-server" && !binary)
    throw new Error(`--engine llama-server: ${found?.reason}`);
  if (binary) {
    try {
      const engine = await LlamaServerEngine.load({ ...settings, binary });
      countReuse(engine, settings.metrics);
      const metrics = settings.metrics;
      if (metrics) engine.onRestart = () => metrics.engineRestarts.inc();
      return loaded(engine, "llama-server", settings);
    } catch (error) {
      if (settings.choice === "llama-server") throw error;
      log?.warn(
        { engine: "llama-server", binary, error: (error as Error).message.split("\n")[0] },
        "llama-server did not start; using the in-process engine",
      );
    }
  } else if (settings.choice === "auto") {
    log?.warn(
      { engine: "in-process" },
      "using the in-process engine (llama-server, with the same CPU kernels, decoded 1.3x as fast alone and 1.75x " +
        "with 4 streams on a 2-core VM; " +
        `docs/benchmarks.md): ${found?.reason}`,
    );
  }
  const engine = await LocalEngine.load({
    modelPath: settings.modelPath,
    contextSize: settings.contextSize,
    parallel: settings.parallel,
    threads: settings.threads,
    lookupDecoding: settings.lookupDecoding,
    mmap: settings.mmap,
    promptCacheBytes: settings.promptCacheMiB * 1024 * 1024,
  });
  countReuse(engine, settings.metrics);
  return loaded(engine, "in-process", settings);
}

/** Counts reused prompt tokens in /metrics by where they came from. */
function countReuse(engine: { onPromptReuse?: (reuse: PromptReuse) => void }, metrics: Metrics | undefined) {
  if (!metrics) return;
  engine.onPromptReuse = (reuse) => {
    metrics.promptReuse.inc({ source: "slot" }, reuse.slot);
    metrics.promptReuse.inc({ source: "ram" }, reuse.ram);
  };
}

function loaded(engine: SlotEngine, kind: LoadedEngine["kind"], settings: EngineSettings): LoadedEngine {
  settings.metrics?.engine.set({ engine: kind }, 1);
  return { engine, kind };
}
