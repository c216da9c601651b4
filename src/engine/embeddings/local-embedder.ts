import os from "node:os";
import type { Llama, LlamaEmbeddingContext, LlamaModel, Token } from "node-llama-cpp";
import { contextOf, type EmbeddingBackend } from "./embedding-model.js";

/**
 * The in-process engine's embeddings: node-llama-cpp's embedding context on the embedding model. It has
 * one sequence and reads the pooled vector of sequence 0 only, so the inputs of a request are evaluated
 * one after the other, each as one batch (a request's inputs are not evaluated together, unlike on
 * llama-server).
 */
export class LocalEmbedder implements EmbeddingBackend {
  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaEmbeddingContext,
  ) {}

  /**
   * `contextSize` is in tokens, capped by the model's training context; every input of up to
   * contextSize - 1 tokens (node-llama-cpp's bound) is evaluated in one batch, which a non-causal model
   * (BERT) needs.
   */
  static async load(
    llama: Llama,
    options: { modelPath: string; contextSize: number; threads?: number; mmap?: boolean },
  ): Promise<{ embedder: LocalEmbedder; model: LlamaModel; contextSize: number }> {
    const model = await llama.loadModel({ modelPath: options.modelPath, useMmap: options.mmap ?? false });
    try {
      const contextSize = contextOf(model, options.contextSize);
      const context = await model.createEmbeddingContext({
        contextSize,
        batchSize: contextSize,
        threads: options.threads ?? os.availableParallelism(),
      });
      return { embedder: new LocalEmbedder(model, context), model, contextSize };
    } catch (error) {
      await model.dispose();
      throw error;
    }
  }

  async embed(inputs: readonly (readonly number[])[], signal: AbortSignal): Promise<Float32Array[]> {
    const vectors: Float32Array[] = [];
    for (const tokens of inputs) {
      signal.throwIfAborted();
      const embedding = await this.context.getEmbeddingFor(tokens as Token[]);
      vectors.push(Float32Array.from(embedding.vector));
    }
    return vectors;
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}
