import { createHash } from "node:crypto";
import { SETTINGS } from "../config/settings.js";
import type { Metrics } from "../metrics.js";
import type { GenerateRequest, ModelProvider, StreamPart } from "../provider/types.js";
import { WrappingProvider } from "../provider/wrapping-provider.js";

export interface ResponseCacheOptions {
  /** Upper bound on the bytes of cached answers (text and bookkeeping, approximated). Default: `--cache-size`'s (64 MiB). */
  maxBytes?: number;
  metrics?: Metrics;
}

interface Entry {
  /** Every part after the meta parts, finish last: replayed as they came, whatever their kind. */
  parts: StreamPart[];
  bytes: number;
}

/** Fixed per-entry overhead counted against the byte bound (key, arrays, usage). */
const ENTRY_OVERHEAD = 256;

/**
 * A byte-bounded LRU of finished answers to deterministic requests (temperature 0, or a fixed seed),
 * wrapped around a provider. A hit replays the same parts, so a streamed hit has the same chunk shape as
 * the original, and a `meta` part tells the client it was a hit.
 */
export class CachingProvider extends WrappingProvider {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly maxBytes: number;

  constructor(
    inner: ModelProvider,
    private readonly options: ResponseCacheOptions = {},
  ) {
    super(inner);
    this.maxBytes = options.maxBytes ?? SETTINGS.cacheSize.default * 1024 * 1024;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  async *stream(request: GenerateRequest, options: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    const key = cacheKey(request);
    if (key === undefined) {
      yield* this.inner.stream(request, options);
      return;
    }
    const hit = this.entries.get(key);
    if (hit) {
      // Refresh recency: a Map iterates in insertion order, so re-inserting makes it the newest.
      this.entries.delete(key);
      this.entries.set(key, hit);
      this.options.metrics?.responseCache.inc({ result: "hit" });
      yield { type: "meta", meta: { cache: "hit" } };
      for (const part of hit.parts) {
        if (part.type !== "finish") yield part;
        else yield { ...part, usage: { ...part.usage, cachedTokens: part.usage.promptTokens } };
      }
      return;
    }
    this.options.metrics?.responseCache.inc({ result: "miss" });
    yield { type: "meta", meta: { cache: "miss" } };
    const parts: StreamPart[] = [];
    let bytes = ENTRY_OVERHEAD + key.length;
    for await (const part of this.inner.stream(request, options)) {
      if (part.type !== "meta") {
        parts.push(part);
        bytes += JSON.stringify(part).length * 2;
      }
      // Only complete answers are kept; an aborted generation never reaches its finish part.
      if (part.type === "finish") this.store(key, { parts, bytes });
      yield part;
    }
  }

  private store(key: string, entry: Entry): void {
    if (entry.bytes > this.maxBytes) return;
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    for (const [oldKey, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldKey);
      this.bytes -= old.bytes;
    }
  }
}

/**
 * The cache key of a deterministic request, or undefined for a sampled one (whose answers must differ).
 * Everything that shapes the output is in the key.
 */
export function cacheKey(request: GenerateRequest): string | undefined {
  const { sampling } = request;
  if (sampling.temperature > 0 && sampling.seed === undefined) return undefined;
  // Extra fields added to requests (structured output, tools) are part of the key too.
  const material = JSON.stringify({ ...request, sampling: { ...sampling } });
  return createHash("sha256").update(material).digest("base64url");
}
