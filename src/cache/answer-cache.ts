import type { GenerateRequest, ModelProvider, StreamPart } from "../provider/types.js";
import { WrappingProvider } from "../provider/wrapping-provider.js";
import type { EntryStore, NewEntry } from "../store/entry-store.js";

/** Fixed per-entry overhead counted against the byte bound (key, arrays, usage). */
const ENTRY_OVERHEAD = 256;

export type FinishPart = Extract<StreamPart, { type: "finish" }>;

/** Where a request's answer is kept: the store key, and for listings a label (the FAQ question). */
export interface AnswerKey {
  key: string;
  label?: string;
}

/**
 * What the response cache and the FAQ cache share: a provider wrapper that answers a request from an
 * EntryStore when it holds an answer for the request's key, replaying the stored parts after a `meta` part
 * saying "hit", and otherwise streams the inner provider's answer (after a "miss"), keeping it once it
 * finishes if the cache's rule allows. An aborted or failed generation never reaches its finish part, so it
 * is never kept. Each cache says which requests it keys, which stored answers serve, and what it keeps.
 */
export abstract class AnswerCacheProvider extends WrappingProvider {
  constructor(
    inner: ModelProvider,
    protected readonly store: EntryStore<StreamPart[]>,
    protected readonly now: () => number,
  ) {
    super(inner);
  }

  get size(): { entries: number; bytes: number } {
    return this.store.size;
  }

  /** The key for this request's answer, or undefined when the cache does not apply to it. */
  protected abstract keyOf(request: GenerateRequest): AnswerKey | undefined;

  /** Whether a finished answer is kept; `route` is the last one a meta part named, if any. */
  protected abstract keeps(parts: StreamPart[], finish: FinishPart, route: string | undefined): boolean;

  /** The entry that keeps an answer. */
  protected abstract entry(key: AnswerKey, parts: StreamPart[], now: number): NewEntry<StreamPart[]>;

  /** Counts a hit or a miss. */
  protected abstract counted(result: "hit" | "miss"): void;

  /** Whether a stored answer serves this request. Default: always. */
  protected serves(_answer: StreamPart[], _request: GenerateRequest): boolean {
    return true;
  }

  /** Called after an answer was stored. */
  protected stored(): void {}

  async *stream(request: GenerateRequest, options: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    const key = this.keyOf(request);
    if (!key) {
      yield* this.inner.stream(request, options);
      return;
    }
    const hit = this.store.get(key.key, this.now());
    if (hit && this.serves(hit.value, request)) {
      this.counted("hit");
      yield { type: "meta", meta: { cache: "hit" } };
      yield* replayParts(hit.value);
      return;
    }
    this.counted("miss");
    yield { type: "meta", meta: { cache: "miss" } };
    const parts: StreamPart[] = [];
    let route: string | undefined;
    for await (const part of this.inner.stream(request, options)) {
      if (part.type === "meta") route = part.meta.route ?? route;
      else parts.push(part);
      if (part.type === "finish" && this.keeps(parts, part, route)) {
        const now = this.now();
        this.store.put(this.entry(key, parts, now), now);
        this.stored();
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

/** An entry's size for the byte bounds: its parts (and label) as UTF-16 JSON plus bookkeeping. */
export function entryBytes(key: AnswerKey, parts: StreamPart[]): number {
  return (
    ENTRY_OVERHEAD +
    key.key.length +
    (key.label?.length ?? 0) * 2 +
    parts.reduce((sum, part) => sum + JSON.stringify(part).length * 2, 0)
  );
}
