/**
 * The tiny synthetic model for tests: generated once per machine (about a second) and cached in the
 * OS temp dir, keyed by generator version so a generator change never serves stale bytes.
 */
import { open, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SYNTH_FORMAT_VERSION, synthesizeModel } from "../../src/models/synth.js";

/** Shared cache of generated test models. */
export const TEST_MODEL_DIR = join(tmpdir(), "edgellm-test-models");

let pending: Promise<string> | undefined;

/**
 * Path of the tiny Qwen2.5-shaped model (Q8_0 weights, seed 42, real tokenizer and chat template).
 * Safe to call from concurrent test processes: synthesizeModel writes a temp file and renames it,
 * so a file at the final path is always complete.
 */
export function tinyModelPath(): Promise<string> {
  pending ??= ensureTinyModel().catch((error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}

async function ensureTinyModel(): Promise<string> {
  const path = join(TEST_MODEL_DIR, `tiny-q8_0-seed42-v${SYNTH_FORMAT_VERSION}.gguf`);
  if (await isGguf(path)) return path;
  await synthesizeModel({ shape: "tiny", type: "q8_0", seed: 42, out: path });
  return path;
}

let pendingReranker: Promise<string> | undefined;

/** Path of the tiny Qwen3-Reranker-shaped model (Q8_0, seed 42), cached as the tiny model is. */
export function tinyRerankerPath(): Promise<string> {
  pendingReranker ??= (async () => {
    const path = join(TEST_MODEL_DIR, `tiny-reranker-q8_0-seed42-v${SYNTH_FORMAT_VERSION}.gguf`);
    if (!(await isGguf(path)))
      await synthesizeModel({ kind: "reranker", shape: "tiny", type: "q8_0", seed: 42, out: path });
    return path;
  })().catch((error: unknown) => {
    pendingReranker = undefined;
    throw error;
  });
  return pendingReranker;
}

async function isGguf(path: string): Promise<boolean> {
  try {
    if ((await stat(path)).size < 1024) return false;
    const handle = await open(path, "r");
    try {
      const magic = Buffer.alloc(4);
      await handle.read(magic, 0, 4, 0);
      return magic.toString("latin1") === "GGUF";
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}
