import type {
  EmbeddingInput,
  EmbeddingModelInfo,
  EmbeddingProvider,
  EmbeddingResult,
} from "../../provider/types.js";
import { type LoadedModel, ModelService } from "../model-service.js";

/** What the service needs of a loaded embedding model (EmbeddingModel, or a fake in tests). */
export interface LoadedEmbeddingModel extends LoadedModel<EmbeddingModelInfo> {
  embed(inputs: readonly EmbeddingInput[], signal: AbortSignal): Promise<EmbeddingResult>;
}

export interface EmbeddingServiceOptions {
  /** Called after each request with how many inputs and tokens it embedded (for /metrics). */
  onEmbedded?: (inputs: number, tokens: number) => void;
}

/** The embedding model's lifetime as the HTTP edge sees it (ModelService). */
export class EmbeddingService
  extends ModelService<EmbeddingModelInfo, LoadedEmbeddingModel>
  implements EmbeddingProvider
{
  constructor(private readonly options: EmbeddingServiceOptions = {}) {
    super();
  }

  async embed(inputs: readonly EmbeddingInput[], options: { signal: AbortSignal }): Promise<EmbeddingResult> {
    const result = await this.use((model) => model.embed(inputs, options.signal));
    this.options.onEmbedded?.(inputs.length, result.promptTokens);
    return result;
  }
}
