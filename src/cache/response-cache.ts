import { createHash } from "node:crypto";
import { SETTINGS } from "../config/settings.js";
import type { Metrics } from "../metrics.js";
import type { GenerateRequest, ModelProvider, StreamPart } from "../provider/types.js";
import { WrappingProvider } from "../provider/wrapping-provider.js";
import { type EntryStore, MemoryEntryStore } from "../store/entry-store.js";

export interface ResponseCacheOptions {
  /** Upper bound on the bytes of cached answers (text and bookkeeping, approximated). Default: `--cache-size`'s (64 MiB). */
  maxBytes?: number;
  /** Where answers are kept (the state file's, to survive a restart). Default: in memory, bounded by `maxBytes`. */
  store?: EntryStore<StreamPart[]>;
  metrics?: Metrics;
  /** Clock, in ms. Default Date.now. */
  now?: () => number;
}

/** Fixed per-entry overhead counted against the byte bound (key, arrays, usage). */
const ENTRY_OVERHEAD = 256;

/**
 * A byte-bounded LRU of finished answers to deterministic requests (temperature 0, or a fixed seed),
 * wrapped around a provider. A hit replays the same parts, so a streamed hit has the same chunk shape as
 * the original, and a `meta` part tells the client it was a hit.
 */
export class CachingProvider extends WrappingProvider {
  private readonly store: EntryStore<StreamPart[]>;
  private readonly now: () => number;

  constructor(
    inner: ModelProvider,
    private readonly options: ResponseCacheOptions = {},
  ) {
    super(inner);
    this.store =
      options.store ??
      new MemoryEntryStore({ maxBytes: options.maxBytes ?? SETTINGS.cacheSize.default * 1024 * 1024 });
    this.now = options.now ?? Date.now;
  }

  get size(): { entries: number; bytes: number } {
    return this.store.size;
  }

  async *stream(request: GenerateRequest, options: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    const key = cacheKey(request);
    if (key === undefined) {
      yield* this.inner.stream(request, options);
      return;
    }
    const hit = this.store.get(key, this.now());
    if (hit) {
      this.options.metrics?.responseCache.inc({ result: "hit" });
      yield { type: "meta", meta: { cache: "hit" } };
      yield* replayParts(hit.value);
      return;
    }
    this.options.metrics?.responseCache.inc({ result: "miss" });
    yield { type: "meta", meta: { cache: "miss" } };
    const parts: StreamPart[] = [];
    for await (const part of this.inner.stream(request, options)) {
      if (part.type !== "meta") parts.push(part);
      // Only complete answers are kept; an aborted generation never reaches its finish part.
      if (part.type === "finish") {
        const now = this.now();
        this.store.put({ key, value: parts, bytes: entryBytes(key, parts), created: now }, now);
      }
      yield part;
    }
  }
}

/** A stored answer's parts as they came, its usage saying the whole prompt was served from cache. */
export function* replayParts(parts: StreamPart[]): Generator<StreamPart> {
  for (const part of parts) {
    if (part.type !== "finish") yield part;
    else yield { ...part, usage: { ...part.usage, cachedTokens: part.usage.promptTokens } };
  }
}

/** An entry's size for the byte bounds: its parts as UTF-16 JSON plus bookkeeping. */
export function entryBytes(key: string, parts: StreamPart[]): number {
  return ENTRY_OVERHEAD + key.length + parts.reduce((sum, part) => sum + JSON.stringify(part).length * 2, 0);
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
