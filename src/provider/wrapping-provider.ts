import type { GenerateRequest, ModelInfo, ModelProvider, StreamPart } from "./types.js";

/**
 * Base for layers that wrap a provider (response cache, metrics, validation): everything but `stream`
 * passes through to the inner provider.
 */
export abstract class WrappingProvider implements ModelProvider {
  constructor(protected readonly inner: ModelProvider) {}

  get state() {
    return this.inner.state;
  }

  listModels(): ModelInfo[] {
    return this.inner.listModels();
  }

  resolveModel(name: string | undefined): string {
    return this.inner.resolveModel(name);
  }

  abstract stream(request: GenerateRequest, options: { signal: AbortSignal }): AsyncIterable<StreamPart>;
}
