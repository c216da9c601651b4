import { z } from "zod";
import { EngineRestartingError } from "../../provider/errors.js";
import { pooledChildArgs } from "../embeddings/llama-server-embedder.js";
import { type EngineLogger, LlamaServerChild, readAnswer } from "../llama-server/child.js";
import { type RerankBackend, type RerankPair, sigmoid } from "./rerank-model.js";

export interface LlamaServerRerankerOptions {
  binary: string;
  modelPath: string;
  /** Tokens per slot: the longest pair plus a few (llama-server tokenizes the texts again). */
  contextSize: number;
  /** Slots: pairs evaluated together in one batch. */
  parallel: number;
  /** Control-token texts made plain text; set when llama-server parses the texts in a template. */
  defuse?: (text: string) => string;
  /** Whether the model's scores are logits (turned into 0-1 with the sigmoid) rather than probabilities. */
  logits: boolean;
  threads?: number;
  mmap?: boolean;
  logger?: EngineLogger;
  /** Longest wait for the child to come back after a crash before a request fails with 503, in ms. Default 30 000. */
  restartWaitMs?: number;
}

/** What llama-server's /v1/rerank answers (the fields read here). */
const answerSchema = z.object({
  results: z.array(z.object({ index: z.number().int().min(0), relevance_score: z.number() })),
});

/**
 * The llama-server engine's reranker: a second managed llama-server (`--reranking`) on the reranking model.
 * A request's pairs go in one call to its /v1/rerank; llama-server gives each document a slot and evaluates
 * the slots together. It takes texts, not tokens, and builds the same pairs as RerankModel does.
 */
export class LlamaServerReranker implements RerankBackend {
  private constructor(
    private readonly child: LlamaServerChild,
    private readonly options: LlamaServerRerankerOptions,
  ) {}

  static async load(options: LlamaServerRerankerOptions): Promise<LlamaServerReranker> {
    const child = await LlamaServerChild.started({
      binary: options.binary,
      args: pooledChildArgs(options, ["--reranking"]),
      name: "the reranking engine",
      restartWaitMs: options.restartWaitMs,
      logger: options.logger,
    });
    return new LlamaServerReranker(child, options);
  }

  async score(query: string, pairs: readonly RerankPair[], signal: AbortSignal): Promise<number[]> {
    const defuse = this.options.defuse ?? ((text: string) => text);
    const body = JSON.stringify({
      query: defuse(query),
      documents: pairs.map((p) => defuse(p.document)),
      top_n: pairs.length,
    });
    const response = await this.child.post("/v1/rerank", body, signal);
    const parsed = await readAnswer(response, answerSchema, "the reranking engine");
    const scores: number[] = [];
    for (const r of parsed?.results ?? []) scores[r.index] = r.relevance_score;
    if (
      !parsed ||
      parsed.results.length !== pairs.length ||
      scores.length !== pairs.length ||
      scores.includes(undefined as never)
    )
      throw new EngineRestartingError("llama-server sent reranking scores edgellm cannot read");
    return this.options.logits ? scores.map(sigmoid) : scores;
  }

  async dispose(): Promise<void> {
    await this.child.stop();
  }
}
