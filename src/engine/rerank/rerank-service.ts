import type { RerankModelInfo, RerankProvider, RerankResult } from "../../provider/types.js";
import { type LoadedModel, ModelService } from "../model-service.js";

/** What the service needs of a loaded reranker (RerankModel, or a fake in tests). */
export interface LoadedRerankModel extends LoadedModel<RerankModelInfo> {
  rank(
    query: string,
    documents: readonly string[],
    options: { signal: AbortSignal; truncate?: boolean },
  ): Promise<RerankResult>;
}

/** The reranker's lifetime as the HTTP edge sees it (ModelService). */
export class RerankService
  extends ModelService<RerankModelInfo, LoadedRerankModel>
  implements RerankProvider
{
  constructor(private readonly onRanked?: (documents: number, tokens: number) => void) {
    super();
  }

  async rank(
    query: string,
    documents: readonly string[],
    options: { signal: AbortSignal; truncate?: boolean },
  ): Promise<RerankResult> {
    const result = await this.use((model) => model.rank(query, documents, options));
    this.onRanked?.(documents.length, result.promptTokens);
    return result;
  }
}
