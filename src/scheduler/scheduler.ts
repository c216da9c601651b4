import { SETTINGS } from "../config/settings.js";
import type { SlotEngine } from "../engine/engine-types.js";
import { commonPrefixLength } from "../engine/prefix.js";
import type { TooLong } from "../engine/prompt-tokenizer.js";
import type { LoadSource, Metrics } from "../metrics.js";
import {
  ContextOverflowError,
  ModelLoadingError,
  ModelNotFoundError,
  QueueFullError,
  QueueTimeoutError,
  ShuttingDownError,
} from "../provider/errors.js";
import type { GenerateRequest, ModelInfo, ModelProvider, StreamPart } from "../provider/types.js";
import { splitTurns, turnsToDrop, withoutTurns } from "./fit-history.js";

export interface SchedulerOptions {
  /** Requests allowed to wait for a slot; one more is refused with 429 at once. Default: `--max-queue`'s (64). */
  maxQueue?: number;
  /**
   * Longest wait for a slot before the request fails with 503 queue_timeout, in ms; 0 waits forever.
   * Default: `--queue-timeout`'s (120 s).
   */
  queueTimeoutMs?: number;
  /** Names besides the model id that select the local model. Default ["local"]. */
  aliases?: string[];
  /** Where queue length, active slots and KV cache usage are reported. */
  metrics?: Metrics;
  /** A chat too long for the context, unless the request says: `--context-overflow`'s (error). */
  contextOverflow?: "error" | "truncate";
  /** Most tokens of earlier turns, unless the request says: `--history-budget`'s (0, no bound). */
  historyBudget?: number;
}

/**
 * Tokens per KV block in `vllm:cache_config_info`. llama.cpp allocates KV cells one token at a time, so any
 * block size counts the cache exactly; the Endpoint Picker's prefix scorer hashes prompts in blocks of this
 * many tokens and matches at most 256 of them, so a block of 1 would stop matching after ~1,000 characters.
 * 16 is vLLM's default, the size the scorer's defaults are tuned for.
 */
export const KV_BLOCK_TOKENS = 16;

interface Waiter {
  tokens: readonly number[];
  resolve(slot: number): void;
  /** Takes the request out of the queue and fails it. */
  fail(error: Error): void;
}

/**
 * The single owner of the model: a bounded FIFO queue in front of the engine's slots. A request goes to
 * the free slot whose KV cache shares the longest prefix with its prompt, so a conversation's next turn
 * lands where its history already is.
 */
export class Scheduler implements ModelProvider, LoadSource {
  private engine?: SlotEngine;
  private failure?: Error;
  private busy: boolean[] = [];
  /** Prompt tokens of the request in each busy slot: cells it holds from the start, before prefill is done. */
  private promptCells: number[] = [];
  private lastUsed: number[] = [];
  private readonly queue: Waiter[] = [];
  private readonly maxQueue: number;
  private readonly queueTimeoutMs: number;
  private readonly aliases: Set<string>;
  private readonly created = Math.floor(Date.now() / 1000);
  private clock = 0;
  /** Set by drain(): no request is admitted any more. */
  private draining = false;
  /** Resolved when the last busy slot is released. */
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly options: SchedulerOptions = {}) {
    this.maxQueue = options.maxQueue ?? SETTINGS.maxQueue.default;
    this.queueTimeoutMs = options.queueTimeoutMs ?? SETTINGS.queueTimeout.default * 1000;
    this.aliases = new Set(options.aliases ?? ["local"]);
    options.metrics?.watchLoad(this);
  }

  /** Hands the loaded engine to the scheduler; until then every request gets 503. */
  attach(engine: SlotEngine): void {
    this.engine = engine;
    this.busy = new Array(engine.slotCount).fill(false);
    this.lastUsed = new Array(engine.slotCount).fill(0);
    this.promptCells = new Array(engine.slotCount).fill(0);
  }

  /** Records that loading failed, so health checks say so. */
  fail(error: Error): void {
    this.failure = error;
  }

  get state(): "loading" | "ready" | "failed" {
    return this.engine ? "ready" : this.failure ? "failed" : "loading";
  }

  get queueLength(): number {
    return this.queue.length;
  }

  get activeSlots(): number {
    return this.busy.filter(Boolean).length;
  }

  /**
   * KV cells held by the requests in slots over every slot's cells, 0 to 1. A request holds its whole prompt
   * from the moment it has a slot (vLLM allocates a prompt's blocks when it schedules it) plus what it has
   * generated. An idle slot counts as free although it keeps its tokens for prefix reuse: the next request
   * overwrites what it does not share, as vLLM evicts its cached free blocks, and vLLM counts those as free.
   * Read from the scheduler and the engine's own bookkeeping rather than llama-server's /metrics: a scrape
   * then costs no HTTP call and never waits on the engine, both engines report alike, and the bundled
   * llama-server's /metrics no longer has a KV usage figure anyway.
   */
  kvCacheUsage(): number {
    const engine = this.engine;
    if (!engine || engine.slotCount === 0) return 0;
    let held = 0;
    for (let slot = 0; slot < this.busy.length; slot++) {
      if (!this.busy[slot]) continue;
      const cells = engine.slotCells?.(slot) ?? engine.slotTokens(slot).length;
      held += Math.min(engine.contextSize, Math.max(this.promptCells[slot], cells));
    }
    return held / (engine.contextSize * engine.slotCount);
  }

  cacheConfig(): { blockSize: number; blocks: number } | undefined {
    const engine = this.engine;
    if (!engine) return undefined;
    const blocks = Math.floor((engine.contextSize * engine.slotCount) / KV_BLOCK_TOKENS);
    return { blockSize: KV_BLOCK_TOKENS, blocks };
  }

  listModels(): ModelInfo[] {
    const engine = this.requireEngine();
    return [
      { id: engine.modelId, created: this.created, ownedBy: "edgellm", contextSize: engine.contextSize },
    ];
  }

  resolveModel(name: string | undefined): string {
    const engine = this.requireEngine();
    if (name === undefined || name === "" || name === engine.modelId || this.aliases.has(name))
      return engine.modelId;
    throw new ModelNotFoundError(name);
  }

  async *stream(request: GenerateRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    if (this.draining) throw new ShuttingDownError();
    const engine = this.requireEngine();
    const { maxTokens } = request.sampling;
    const { tokens, truncated } = await this.fitted(engine, request);
    if (truncated) yield { type: "meta", meta: { truncated } };
    if (!Array.isArray(tokens)) throw this.overflow(engine, tokens.atLeast, maxTokens, "at least ");
    if (tokens.length + (maxTokens ?? 1) > engine.contextSize)
      throw this.overflow(engine, tokens.length, maxTokens);
    engine.check?.(request);
    const slot = await this.acquire(tokens, signal);
    this.promptCells[slot] = tokens.length;
    try {
      for await (const event of engine.generate(slot, tokens, request.sampling, signal, request)) {
        if (event.type === "text") {
          yield { type: "text-delta", text: event.text, logprobs: event.logprobs };
        } else if (event.type === "tool-call-delta") {
          yield event;
        } else {
          const usage = {
            promptTokens: tokens.length,
            completionTokens: event.completionTokens,
            cachedTokens: event.cachedTokens,
          };
          const { stopSequence } = event;
          yield {
            type: "finish",
            finishReason: event.finishReason,
            usage,
            ...(stopSequence !== undefined && { stopSequence }),
          };
        }
      }
    } finally {
      this.release(slot);
    }
  }

  /**
   * Stops admitting work: new requests and every request waiting in the queue fail at once with
   * ShuttingDownError (503); requests holding a slot run on.
   */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    for (const waiter of [...this.queue]) waiter.fail(new ShuttingDownError());
  }

  /**
   * Drains, waits until no request holds a slot, then disposes the engine (its sequences, context and model,
   * in that order). Ending the requests still running is the caller's job: abort their signals.
   */
  async dispose(): Promise<void> {
    this.drain();
    while (this.activeSlots > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const engine = this.engine;
    this.engine = undefined;
    await engine?.dispose();
  }

  private requireEngine(): SlotEngine {
    if (!this.engine) throw this.draining ? new ShuttingDownError() : new ModelLoadingError();
    return this.engine;
  }

  /**
   * The prompt's tokens, with the oldest turns of a chat dropped when the request allows it and it does not
   * fit the context (`contextOverflow: "truncate"`), or when its earlier turns pass `historyBudget` tokens
   * (fit-history.ts says which go). Without either, or when even the latest turn alone does not fit, the
   * prompt is left whole (and refused by the caller if too long).
   */
  private async fitted(
    engine: SlotEngine,
    request: GenerateRequest,
  ): Promise<{ tokens: number[] | TooLong; truncated?: { turns: number; tokens: number } }> {
    const { prompt } = request;
    const tokens = await engine.tokenize(prompt, engine.contextSize);
    const truncate = (request.contextOverflow ?? this.options.contextOverflow) === "truncate";
    const historyBudget = request.historyBudget ?? this.options.historyBudget ?? 0;
    if (prompt.kind !== "chat" || (!truncate && historyBudget <= 0)) return { tokens };
    const room = engine.contextSize - (request.sampling.maxTokens ?? 1);
    // A chat that fits, with no history budget to hold it to, needs nothing more (the common case).
    if (historyBudget <= 0 && Array.isArray(tokens) && tokens.length <= room) return { tokens };
    const split = splitTurns(prompt.messages);
    if (split.turns.length === 0) return { tokens };
    const bare = await engine.tokenize(
      { ...prompt, messages: withoutTurns(split, split.turns.length) },
      room,
    );
    if (!Array.isArray(bare)) return { tokens };
    const fitting = (t: number[] | TooLong): t is number[] =>
      Array.isArray(t) &&
      (!truncate || t.length <= room) &&
      (historyBudget <= 0 || t.length - bare.length <= historyBudget);
    if (fitting(tokens)) return { tokens };
    const tried = new Map<number, number[] | TooLong>();
    const dropped = await turnsToDrop(split, async (messages) => {
      const t = await engine.tokenize({ ...prompt, messages }, engine.contextSize);
      tried.set(messages.length, t);
      return fitting(t);
    });
    if (dropped === undefined || dropped === 0) return { tokens };
    const kept = withoutTurns(split, dropped);
    const fitted =
      tried.get(kept.length) ?? (await engine.tokenize({ ...prompt, messages: kept }, engine.contextSize));
    const before = Array.isArray(tokens) ? tokens.length : tokens.atLeast;
    const after = Array.isArray(fitted) ? fitted.length : fitted.atLeast;
    return { tokens: fitted, truncated: { turns: dropped, tokens: before - after } };
  }

  /** @param bound "at least " when `promptTokens` is a lower bound. */
  private overflow(
    engine: SlotEngine,
    promptTokens: number,
    maxTokens: number | undefined,
    bound = "",
  ): ContextOverflowError {
    const needed = promptTokens + (maxTokens ?? 1);
    // OpenAI's own wording: clients (LangChain's ContextOverflowError) recognise an overflow by its text.
    return new ContextOverflowError(
      (name) =>
        `This model's maximum context length is ${engine.contextSize} tokens. However, you requested ` +
        `${bound}${needed} tokens (${bound}${promptTokens} in the ${name("prompt")}, ` +
        (maxTokens === undefined ? "at least 1 for the completion" : `${maxTokens} in the completion`) +
        `). Please reduce the length of the ${name("prompt")} or ${name("maxTokens")}.`,
      maxTokens !== undefined && promptTokens < engine.contextSize ? "maxTokens" : "prompt",
    );
  }

  private acquire(tokens: readonly number[], signal: AbortSignal): Promise<number> {
    signal.throwIfAborted();
    if (this.queue.length === 0) {
      const slot = this.pickSlot(tokens);
      if (slot !== -1) {
        this.claim(slot);
        return Promise.resolve(slot);
      }
    }
    if (this.queue.length >= this.maxQueue) throw new QueueFullError();
    return new Promise<number>((resolve, reject) => {
      const leave = (error: unknown) => {
        const index = this.queue.indexOf(waiter);
        if (index !== -1) this.queue.splice(index, 1);
        cleanup();
        this.report();
        reject(error);
      };
      const onAbort = () => leave(signal.reason);
      const timer =
        this.queueTimeoutMs > 0
          ? setTimeout(() => leave(new QueueTimeoutError(this.queueTimeoutMs)), this.queueTimeoutMs)
          : undefined;
      const cleanup = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        tokens,
        resolve: (slot) => {
          cleanup();
          resolve(slot);
        },
        fail: leave,
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.queue.push(waiter);
      this.report();
    });
  }

  private release(slot: number): void {
    this.busy[slot] = false;
    this.promptCells[slot] = 0;
    const next = this.queue.shift();
    if (next) {
      const chosen = this.pickSlot(next.tokens);
      this.claim(chosen);
      next.resolve(chosen);
    }
    this.report();
    if (this.activeSlots === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private claim(slot: number): void {
    this.busy[slot] = true;
    this.lastUsed[slot] = ++this.clock;
    this.report();
  }

  private report(): void {
    this.options.metrics?.queueLength.set(this.queue.length);
    this.options.metrics?.activeSlots.set(this.activeSlots);
  }

  /** The free slot sharing the longest prefix with `tokens`; ties go to the least recently used. -1 if none. */
  private pickSlot(tokens: readonly number[]): number {
    const engine = this.requireEngine();
    let best = -1;
    let bestPrefix = -1;
    for (let slot = 0; slot < this.busy.length; slot++) {
      if (this.busy[slot]) continue;
      const prefix = commonPrefixLength(engine.slotTokens(slot), tokens);
      if (prefix > bestPrefix || (prefix === bestPrefix && this.lastUsed[slot] < this.lastUsed[best])) {
        best = slot;
        bestPrefix = prefix;
      }
    }
    return best;
  }
}
