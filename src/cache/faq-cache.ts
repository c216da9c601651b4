import { SETTINGS } from "../config/settings.js";
import type { Metrics } from "../metrics.js";
import type { GenerateRequest, ModelProvider, StreamPart } from "../provider/types.js";
import { WrappingProvider } from "../provider/wrapping-provider.js";
import { type EntryStore, MemoryEntryStore, type StoredEntry } from "../store/entry-store.js";
import { faqKeyOf } from "./faq-key.js";
import { entryBytes, replayParts } from "./response-cache.js";

export interface FaqCacheOptions {
  /** Where answers are kept. Default: in memory, `--faq-cache-size`'s bound (16 MiB). */
  store?: EntryStore<StreamPart[]>;
  /** Serve every first-turn question from the cache; when false only requests that say `prefer` use it. Default false. */
  enabled?: boolean;
  /** How long an answer is served, in ms; 0 for ever. Default: `--faq-ttl`'s (1 day). */
  ttlMs?: number;
  /** Also keep answers that came from an upstream (the owner allows it: some providers' terms do not). Default false. */
  cacheCloud?: boolean;
  metrics?: Metrics;
  /** Clock, in ms. Default Date.now. */
  now?: () => number;
}

/** One stored answer as the admin endpoint lists it (no answer text). */
export type FaqEntry = Omit<StoredEntry<StreamPart[]>, "value">;

/**
 * The FAQ answer cache: a first-turn question (one user message, the same system prompt, model, format and
 * tools) asked again in any spelling that normalizes alike (faq-key.ts) is answered with the stored answer
 * at once, whatever the temperature. It sits outside the router, so a hit routes nowhere and costs nothing.
 * Only whole text answers are kept: never one cut by the token limit, a tool call, an error (which never
 * reaches a finish part), or an upstream's answer unless `cacheCloud` allows it.
 */
export class FaqCacheProvider extends WrappingProvider {
  private readonly store: EntryStore<StreamPart[]>;
  private readonly now: () => number;

  constructor(
    inner: ModelProvider,
    private readonly options: FaqCacheOptions = {},
  ) {
    super(inner);
    this.store =
      options.store ?? new MemoryEntryStore({ maxBytes: SETTINGS.faqCacheSize.default * 1024 * 1024 });
    this.now = options.now ?? Date.now;
    this.options.metrics?.faqCacheEntries.set(this.store.size.entries);
  }

  get size(): { entries: number; bytes: number } {
    return this.store.size;
  }

  /** Stored answers, most recently used first. */
  list(): FaqEntry[] {
    return this.store.list();
  }

  /** Removes one answer by its key; false when there was none. */
  delete(key: string): boolean {
    const deleted = this.store.delete(key);
    this.updateGauge();
    return deleted;
  }

  /** Removes every answer; returns how many there were. */
  clear(): number {
    const count = this.store.clear();
    this.updateGauge();
    return count;
  }

  async *stream(request: GenerateRequest, options: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    const use = request.cache === "prefer" || (this.options.enabled === true && request.cache !== "bypass");
    const faq = use ? faqKeyOf(request) : undefined;
    if (!faq) {
      yield* this.inner.stream(request, options);
      return;
    }
    const now = this.now();
    const hit = this.store.get(faq.key, now);
    const finish = hit?.value.at(-1);
    const maxTokens = request.sampling.maxTokens;
    // An answer longer than this request allows is no answer to it; the fresh one replaces it.
    if (
      hit &&
      finish?.type === "finish" &&
      !(maxTokens !== undefined && finish.usage.completionTokens > maxTokens)
    ) {
      this.options.metrics?.faqCache.inc({ result: "hit" });
      yield { type: "meta", meta: { cache: "hit" } };
      yield* replayParts(hit.value);
      return;
    }
    this.options.metrics?.faqCache.inc({ result: "miss" });
    yield { type: "meta", meta: { cache: "miss" } };
    const parts: StreamPart[] = [];
    let route: string | undefined;
    let toolCall = false;
    for await (const part of this.inner.stream(request, options)) {
      if (part.type === "meta") route = part.meta.route ?? route;
      else parts.push(part);
      if (part.type === "tool-call-delta") toolCall = true;
      if (part.type === "finish" && part.finishReason === "stop" && !toolCall && this.mayKeep(route))
        this.keep(faq.key, faq.question, parts, now);
      yield part;
    }
  }

  private mayKeep(route: string | undefined): boolean {
    return route === undefined || route === "local" || this.options.cacheCloud === true;
  }

  private keep(key: string, question: string, parts: StreamPart[], now: number): void {
    const ttlMs = this.options.ttlMs ?? SETTINGS.faqTtl.default * 1000;
    this.store.put(
      {
        key,
        value: parts,
        label: question,
        bytes: entryBytes(key, parts) + question.length * 2,
        created: now,
        ...(ttlMs > 0 && { expires: now + ttlMs }),
      },
      this.now(),
    );
    this.updateGauge();
  }

  private updateGauge(): void {
    this.options.metrics?.faqCacheEntries.set(this.store.size.entries);
  }
}
