import { ModelLoadFailedError, ModelLoadingError, ShuttingDownError } from "../provider/errors.js";

/** What a service needs of a loaded model: its info, and freeing it. */
export interface LoadedModel<Info> {
  readonly info: Info;
  dispose(): Promise<void>;
}

/**
 * A second model's lifetime (the embedding model, the reranker) as the HTTP edge sees it: 503
 * `model_loading` until it is attached, 503 once loading failed or a shutdown began, and on close() the
 * requests in flight are waited for before the model is freed.
 */
export class ModelService<Info, Model extends LoadedModel<Info>> {
  private model?: Model;
  private failure?: Error;
  private closing = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  get state(): "loading" | "ready" | "failed" {
    if (this.failure) return "failed";
    return this.model ? "ready" : "loading";
  }

  attach(model: Model): void {
    this.model = model;
  }

  fail(error: Error): void {
    this.failure = error;
  }

  info(): Info | undefined {
    return this.model?.info;
  }

  /** Runs work on the model, refused (503) while it is loading, failed or shutting down. */
  protected async use<T>(work: (model: Model) => Promise<T>): Promise<T> {
    if (this.closing) throw new ShuttingDownError();
    if (this.failure) throw new ModelLoadFailedError();
    const model = this.model;
    if (!model) throw new ModelLoadingError();
    const running = work(model);
    this.inFlight.add(running);
    try {
      return await running;
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
