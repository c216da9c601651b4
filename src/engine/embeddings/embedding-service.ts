import { ModelLoadFailedError, ModelLoadingError, ShuttingDownError } from "../../provider/errors.js";
import type {
  EmbeddingInput,
  EmbeddingModelInfo,
  EmbeddingProvider,
  EmbeddingResult,
} from "../../provider/types.js";

/** What the service needs of a loaded embedding model (EmbeddingModel, or a fake in tests). */
export interface LoadedEmbeddingModel {
  readonly info: EmbeddingModelInfo;
  embed(inputs: readonly EmbeddingInput[], signal: AbortSignal): Promise<EmbeddingResult>;
  dispose(): Promise<void>;
}

export interface EmbeddingServiceOptions {
  /** Called after each request with how many inputs and tokens it embedded (for /metrics). */
  onEmbedded?: (inputs: number, tokens: number) => void;
}

/**
 * The embedding model's lifetime as the HTTP edge sees it: 503 `model_loading` until it is attached, 503
 * once loading failed or a shutdown began, and on close() the requests in flight are waited for before the
 * model is freed.
 */
export class EmbeddingService implements EmbeddingProvider {
  private model?: LoadedEmbeddingModel;
  private failure?: Error;
  private closing = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly options: EmbeddingServiceOptions = {}) {}

  get state(): "loading" | "ready" | "failed" {
    if (this.failure) return "failed";
    return this.model ? "ready" : "loading";
  }

  attach(model: LoadedEmbeddingModel): void {
    this.model = model;
  }

  fail(error: Error): void {
    this.failure = error;
  }

  info(): EmbeddingModelInfo | undefined {
    return this.model?.info;
  }

  async embed(inputs: readonly EmbeddingInput[], options: { signal: AbortSignal }): Promise<EmbeddingResult> {
    if (this.closing) throw new ShuttingDownError();
    if (this.failure) throw new ModelLoadFailedError();
    const model = this.model;
    if (!model) throw new ModelLoadingError();
    const running = model.embed(inputs, options.signal);
    this.inFlight.add(running);
    try {
      const result = await running;
      this.options.onEmbedded?.(inputs.length, result.promptTokens);
      return result;
    } finally {
      this.inFlight.delete(running);
    }
  }

  /** Refuses new requests (503 `shutting_down`) from now on. */
  drain(): void {
    this.closing = true;
  }

  /** Refuses new requests; frees the model once those in flight have ended. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.inFlight]);
    await this.model?.dispose();
    this.model = undefined;
  }
}
