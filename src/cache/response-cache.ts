import { createHash } from "node:crypto";
import { SETTINGS } from "../config/settings.js";
import type { Metrics } from "../metrics.js";
import type { GenerateRequest, ModelProvider, StreamPart } from "../provider/types.js";
import { type EntryStore, MemoryEntryStore, type NewEntry } from "../store/entry-store.js";
import { AnswerCacheProvider, type AnswerKey, entryBytes } from "./answer-cache.js";

export interface ResponseCacheOptions {
  /** Upper bound on the bytes of cached answers (text and bookkeeping, approximated). Default: `--cache-size`'s (64 MiB). */
  maxBytes?: number;
  /** Where answers are kept (the state file's, to survive a restart). Default: in memory, bounded by `maxBytes`. */
  store?: EntryStore<StreamPart[]>;
  metrics?: Metrics;
  /** Clock, in ms. Default Date.now. */
  now?: () => number;
}

/**
 * A byte-bounded LRU of finished answers to deterministic requests (temperature 0, or a fixed seed),
 * wrapped around a provider. A hit replays the same parts, so a streamed hit has the same chunk shape as
 * the original, and a `meta` part tells the client it was a hit.
 */
export class CachingProvider extends AnswerCacheProvider {
  constructor(
    inner: ModelProvider,
    private readonly options: ResponseCacheOptions = {},
  ) {
    super(
      inner,
      options.store ??
        new MemoryEntryStore({ maxBytes: options.maxBytes ?? SETTINGS.cacheSize.default * 1024 * 1024 }),
      options.now ?? Date.now,
    );
  }

  protected keyOf(request: GenerateRequest): AnswerKey | undefined {
    const key = cacheKey(request);
    return key === undefined ? undefined : { key };
  }

  protected keeps(): boolean {
    return true;
  }

  protected entry(key: AnswerKey, parts: StreamPart[], now: number): NewEntry<StreamPart[]> {
    return { key: key.key, value: parts, bytes: entryBytes(key, parts), created: now };
  }

  protected counted(result: "hit" | "miss"): void {
    this.options.metrics?.responseCache.inc({ result });
  }
}

/**
 * The cache key of a deterministic request, or undefined for a sampled one (whose answers must differ) or
 * one that asks to bypass the caches. Everything that shapes the output is in the key.
 */
export function cacheKey(request: GenerateRequest): string | undefined {
  const { sampling, cache, ...rest } = request;
  if (cache === "bypass") return undefined;
  if (sampling.temperature > 0 && sampling.seed === undefined) return undefined;
  // Extra fields added to requests (structured output, tools) are part of the key too.
  const material = JSON.stringify({ ...rest, sampling: { ...sampling } });
  return createHash("sha256").update(material).digest("base64url");
}
