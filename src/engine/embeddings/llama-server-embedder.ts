import os from "node:os";
import { z } from "zod";
import { EngineRestartingError } from "../../provider/errors.js";
import { type EngineLogger, LlamaServerChild, readAnswer } from "../llama-server/child.js";
import type { EmbeddingBackend, Pooling } from "./embedding-model.js";

export interface LlamaServerEmbedderOptions {
  binary: string;
  modelPath: string;
  /** Tokens per slot: the longest input plus one. */
  contextSize: number;
  /** Slots: inputs evaluated together in one batch. */
  parallel: number;
  pooling: Pooling;
  threads?: number;
  mmap?: boolean;
  logger?: EngineLogger;
  /** Longest wait for the child to come back after a crash before a request fails with 503, in ms. Default 30 000. */
  restartWaitMs?: number;
}

/** What llama-server's /v1/embeddings answers (the fields read here). */
const answerSchema = z.object({
  data: z.array(z.object({ index: z.number().int().min(0), embedding: z.array(z.number()) })),
});

/**
 * The llama-server engine's embeddings: a second managed llama-server (`--embeddings`) on the embedding
 * model. A request's inputs go in one call to its /v1/embeddings as token lists; llama-server gives each
 * input a slot and evaluates the slots together, so up to `parallel` inputs share one batch.
 */
export class LlamaServerEmbedder implements EmbeddingBackend {
  private constructor(private readonly child: LlamaServerChild) {}

  static async load(options: LlamaServerEmbedderOptions): Promise<LlamaServerEmbedder> {
    const child = await LlamaServerChild.started({
      binary: options.binary,
      args: embeddingChildArgs(options),
      name: "the embedding engine",
      restartWaitMs: options.restartWaitMs,
      logger: options.logger,
    });
    return new LlamaServerEmbedder(child);
  }

  async embed(inputs: readonly (readonly number[])[], signal: AbortSignal): Promise<Float32Array[]> {
    const body = JSON.stringify({ input: inputs, encoding_format: "float" });
    const response = await this.child.post("/v1/embeddings", body, signal);
    return this.read(response, inputs.length);
  }

  async dispose(): Promise<void> {
    await this.child.stop();
  }

  private async read(response: Response, count: number): Promise<Float32Array[]> {
    const parsed = await readAnswer(response, answerSchema, "the embedding engine");
    const vectors: Float32Array[] = [];
    for (const item of parsed?.data ?? []) vectors[item.index] = Float32Array.from(item.embedding);
    if (
      !parsed ||
      parsed.data.length !== count ||
      vectors.length !== count ||
      vectors.includes(undefined as never)
    )
      throw new EngineRestartingError("llama-server sent embeddings edgellm cannot read");
    return vectors;
  }
}

/** llama-server's arguments for the embedding model (host, port and key are the child manager's). */
export function embeddingChildArgs(options: LlamaServerEmbedderOptions): string[] {
  return pooledChildArgs(options, ["--embeddings", "--pooling", options.pooling]);
}

/**
 * llama-server's arguments for a model that gives one result per input (embeddings, or a reranker's scores
 * with `--reranking`): each input in one slot, evaluated in one physical batch.
 */
export function pooledChildArgs(
  options: Pick<LlamaServerEmbedderOptions, "modelPath" | "contextSize" | "parallel" | "threads" | "mmap">,
  mode: string[],
): string[] {
  return [
    "--model",
    options.modelPath,
    ...mode,
    // Each slot gets contextSize tokens; an input is evaluated in one physical batch (a non-causal model
    // needs that), so the batches are as large as a slot.
    "--ctx-size",
    String(options.contextSize * options.parallel),
    "--parallel",
    String(options.parallel),
    "--batch-size",
    String(options.contextSize),
    "--ubatch-size",
    String(options.contextSize),
    "--threads",
    String(options.threads ?? os.availableParallelism()),
    // Vectors are made unit length by edgellm too; llama-server's default (2, Euclidean) is said out loud.
    "--embd-normalize",
    "2",
    // A prompt cache holds KV states for later turns of a conversation: these have none.
    "--cache-ram",
    "0",
    "--load-mode",
    options.mmap ? "mmap" : "none",
    "--no-webui",
  ];
}
