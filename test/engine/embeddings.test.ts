import assert from "node:assert/strict";
import { test } from "node:test";
import type { LlamaModel } from "node-llama-cpp";
import { contextOf, poolingOf } from "../../src/engine/embeddings/embedding-model.js";
import { embeddingChildArgs } from "../../src/engine/embeddings/llama-server-embedder.js";

// The embedding engines' choices that need no model: pooling, context, llama-server's arguments.

const withPooling = (pooling_type?: number) =>
  ({ fileInfo: { architectureMetadata: { pooling_type } } }) as unknown as LlamaModel;

test("pooling: the GGUF's own mean or CLS, else the last token (chat models, last-token embedders)", () => {
  assert.equal(poolingOf(withPooling(1)), "mean");
  assert.equal(poolingOf(withPooling(2)), "cls");
  assert.equal(poolingOf(withPooling(3)), "last");
  assert.equal(poolingOf(withPooling(0)), "last", "none: a chat model");
  assert.equal(poolingOf(withPooling(undefined)), "last", "no pooling type at all");
  assert.equal(poolingOf({ fileInfo: {} } as unknown as LlamaModel), "last");
});

test("an input's context is the one asked for, within the model's training context", () => {
  assert.equal(contextOf({ trainContextSize: 512 }, 4096), 512);
  assert.equal(contextOf({ trainContextSize: 32768 }, 4096), 4096);
  assert.equal(contextOf({ trainContextSize: 0 }, 4096), 4096, "a GGUF that does not say");
});

test("the embedding llama-server: --embeddings with the pooling, each input in one physical batch", () => {
  const args = embeddingChildArgs({
    binary: "llama-server",
    modelPath: "/m/e.gguf",
    contextSize: 512,
    parallel: 3,
    pooling: "cls",
    threads: 2,
  });
  const value = (flag: string) => args[args.indexOf(flag) + 1];
  assert.ok(args.includes("--embeddings"));
  assert.equal(value("--model"), "/m/e.gguf");
  assert.equal(value("--pooling"), "cls");
  assert.equal(value("--ctx-size"), String(512 * 3), "llama-server splits its context among slots");
  assert.equal(value("--parallel"), "3");
  // llama-server refuses an embedding input longer than the physical batch (it cannot split one).
  assert.equal(value("--ubatch-size"), "512");
  assert.equal(value("--batch-size"), "512");
  assert.equal(value("--threads"), "2");
  assert.ok(!args.includes("--host") && !args.includes("--port"), "the child manager's");
});
