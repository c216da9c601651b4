import os from "node:os";
import type { Llama, LlamaModel, LlamaRankingContext, Token } from "node-llama-cpp";
import { contextOf } from "../embeddings/embedding-model.js";
import { checkReranker, type RerankBackend, type RerankPair } from "./rerank-model.js";

/**
 * The in-process engine's reranker: node-llama-cpp's ranking context on the reranking model, one pair after
 * the other. RerankModel builds each pair's tokens (the template filled in), so the context is given an empty
 * template of its own and the whole pair as its "query"; node-llama-cpp turns a logit into a probability
 * where llama.cpp gives a logit, as LlamaServerReranker does.
 */
export class LocalReranker implements RerankBackend {
  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaRankingContext,
  ) {}

  static async load(
    llama: Llama,
    options: { modelPath: string; contextSize: number; threads?: number; mmap?: boolean },
  ): Promise<{ reranker: LocalReranker; model: LlamaModel; contextSize: number }> {
    const model = await llama.loadModel({ modelPath: options.modelPath, useMmap: options.mmap ?? false });
    try {
      checkReranker(model, options.modelPath);
      const contextSize = contextOf(model, options.contextSize);
      const context = await model.createRankingContext({
        contextSize,
        batchSize: contextSize,
        threads: options.threads ?? os.availableParallelism(),
        template: "{{query}}{{document}}",
      });
      return { reranker: new LocalReranker(model, context), model, contextSize };
    } catch (error) {
      await model.dispose();
      throw error;
    }
  }

  async score(_query: string, pairs: readonly RerankPair[], signal: AbortSignal): Promise<number[]> {
    const scores: number[] = [];
    for (const pair of pairs) {
      signal.throwIfAborted();
      scores.push(await this.context.rank(pair.tokens as Token[], []));
    }
    return scores;
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}
