import { SETTINGS } from "../config/settings.js";
import type { Metrics } from "../metrics.js";
import type { GenerateRequest, ModelProvider, StreamPart } from "../provider/types.js";
import { type EntryStore, MemoryEntryStore, type NewEntry, type StoredEntry } from "../store/entry-store.js";
import { AnswerCacheProvider, type AnswerKey, entryBytes, type FinishPart } from "./answer-cache.js";
import { faqKeyOf } from "./faq-key.js";

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
export class FaqCacheProvider extends AnswerCacheProvider {
  constructor(
    inner: ModelProvider,
    private readonly options: FaqCacheOptions = {},
  ) {
    super(
      inner,
      options.store ?? new MemoryEntryStore({ maxBytes: SETTINGS.faqCacheSize.default * 1024 * 1024 }),
      options.now ?? Date.now,
    );
    this.stored();
  }

  /** Stored answers, most recently used first. */
  list(): FaqEntry[] {
    return this.store.list();
  }

  /** Removes one answer by its key; false when there was none. */
  delete(key: string): boolean {
    const deleted = this.store.delete(key);
    this.stored();
    return deleted;
  }

  /** Removes every answer; returns how many there were. */
  clear(): number {
    const count = this.store.clear();
    this.stored();
    return count;
  }

  protected keyOf(request: GenerateRequest): AnswerKey | undefined {
    const use = request.cache === "prefer" || (this.options.enabled === true && request.cache !== "bypass");
    const faq = use ? faqKeyOf(request) : undefined;
    return faq && { key: faq.key, label: faq.question };
  }

  /** An answer longer than this request allows is no answer to it; the fresh one replaces it. */
  protected override serves(answer: StreamPart[], request: GenerateRequest): boolean {
    const finish = answer.at(-1);
    const maxTokens = request.sampling.maxTokens;
    return (
      finish?.type === "finish" && !(maxTokens !== undefined && finish.usage.completionTokens > maxTokens)
    );
  }

  protected keeps(parts: StreamPart[], finish: FinishPart, route: string | undefined): boolean {
    return (
      finish.finishReason === "stop" &&
      !parts.some((part) => part.type === "tool-call-delta") &&
      (route === undefined || route === "local" || this.options.cacheCloud === true)
    );
  }

  protected entry(key: AnswerKey, parts: StreamPart[], now: number): NewEntry<StreamPart[]> {
    const ttlMs = this.options.ttlMs ?? SETTINGS.faqTtl.default * 1000;
    return {
      key: key.key,
      value: parts,
      label: key.label,
      bytes: entryBytes(key, parts),
      created: now,
      ...(ttlMs > 0 && { expires: now + ttlMs }),
    };
  }

  protected counted(result: "hit" | "miss"): void {
    this.options.metrics?.faqCache.inc({ result });
  }

  /** Keeps the entries gauge current. */
  protected override stored(): void {
    this.options.metrics?.faqCacheEntries.set(this.store.size.entries);
  }
}
