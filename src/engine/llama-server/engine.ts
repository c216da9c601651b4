import os from "node:os";
import path from "node:path";
import { getLlama, type Llama, LlamaLogLevel, type LlamaModel } from "node-llama-cpp";
import { EngineRestartingError } from "../../provider/errors.js";
import type {
  FinishReason,
  GenerateRequest,
  Prompt,
  SamplingParams,
  TokenLogprob,
} from "../../provider/types.js";
import { ChatPrompt, vocabularySize } from "../chat-prompt.js";
import type { EngineEvent, GenerationControls, PromptReuse, SlotEngine } from "../engine-types.js";
import { GenerationOutput } from "../generation-output.js";
import { GrammarCache } from "../grammar.js";
import { checkLogitBias } from "../logit-bias.js";
import { commonPrefixLength } from "../prefix.js";
import type { TooLong } from "../prompt-tokenizer.js";
import { TokenBytes } from "../token-bytes.js";
import { ChildUnavailableError, type EngineLogger, LlamaServerChild } from "./child.js";
import { type CompletionChunk, completionBody, parseCompletionChunk, sseData } from "./completion.js";

export interface LlamaServerEngineOptions {
  /** The llama-server binary (see src/engine/binary/). */
  binary: string;
  /** Path of the GGUF file. */
  modelPath: string;
  /** Context window per slot, in tokens. */
  contextSize: number;
  /** Slots: the child gets this many, and the scheduler never sends it more requests at once. */
  parallel: number;
  /** CPU threads for evaluation. Default: every core. */
  threads?: number;
  /** Model id reported by /v1/models. Default: the file name without `.gguf`. */
  modelId?: string;
  /**
   * Host RAM for llama-server's prompt cache, in MiB: the KV state of a conversation that loses its slot is kept
   * there and restored when it comes back, instead of being recomputed. 0 turns it off.
   */
  promptCacheMiB: number;
  /** Memory-map the model file instead of reading it. Default false (as the in-process engine). */
  mmap?: boolean;
  logger?: EngineLogger;
  /** Longest wait for the child to come back after a crash before a request fails with 503, in ms. Default 30 000. */
  restartWaitMs?: number;
}

/**
 * The local engine that runs llama.cpp's own server loop in a child process (llama-server), where the token
 * loop never leaves native code. edgellm keeps everything above it: the scheduler picks the slot, prompts are
 * rendered and tokenized here (a vocabulary-only model) and sent as token ids, grammars are edgellm's own GBNF,
 * and the returned text goes through the same stop strings and tool-call parser as in-process (llama-server
 * already sends whole characters, and not the id of a token held back for a partial one).
 */
export class LlamaServerEngine implements SlotEngine {
  private readonly slots: number[][];
  /** Per slot while it generates: prompt tokens plus those generated so far (`slots` is empty meanwhile). */
  private readonly filling: (number | undefined)[];
  private readonly grammars: GrammarCache;
  private readonly tokenBytes: TokenBytes;
  /** Called after each generation with where its reused prompt tokens came from. */
  onPromptReuse?: (reuse: PromptReuse) => void;
  /** Called when the child died while serving (it is being restarted). */
  onRestart?: () => void;

  private constructor(
    private readonly llama: Llama,
    private readonly vocabulary: LlamaModel,
    private readonly prompts: ChatPrompt,
    private readonly child: LlamaServerChild,
    readonly modelId: string,
    readonly contextSize: number,
    options: LlamaServerEngineOptions,
  ) {
    this.slots = Array.from({ length: options.parallel }, () => []);
    this.filling = new Array(options.parallel).fill(undefined);
    this.grammars = new GrammarCache(llama);
    this.tokenBytes = new TokenBytes(vocabulary);
    child.onCrash = () => this.onRestart?.();
  }

  static async load(options: LlamaServerEngineOptions): Promise<LlamaServerEngine> {
    const child = new LlamaServerChild({
      binary: options.binary,
      args: childArgs(options),
      name: "the engine",
      restartWaitMs: options.restartWaitMs,
      logger: options.logger,
    });
    // The child loads the weights while this process reads the vocabulary.
    const started = child.start();
    started.catch(() => {});
    try {
      const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
      const vocabulary = await llama.loadModel({ modelPath: options.modelPath, vocabOnly: true });
      await started;
      const modelId = options.modelId ?? path.basename(options.modelPath).replace(/\.gguf$/i, "");
      const prompts = new ChatPrompt(vocabulary, options.modelPath);
      return new LlamaServerEngine(llama, vocabulary, prompts, child, modelId, options.contextSize, options);
    } catch (error) {
      await child.stop();
      throw error;
    }
  }

  get slotCount(): number {
    return this.slots.length;
  }

  /** The child's process id while it runs (tests kill it). */
  get childPid(): number | undefined {
    return this.child.pid;
  }

  /** The child's URL and key (tests and diagnostics); the URL is empty while it is not serving. */
  childEndpoint(): { url: string; key: string } {
    return { url: this.child.url ?? "", key: this.child.key };
  }

  /** What the slot holds as far as edgellm knows: the last prompt it was given and what it generated. */
  slotTokens(slot: number): readonly number[] {
    return this.slots[slot];
  }

  /** KV cells the slot fills as far as edgellm knows: while generating, the prompt and the tokens so far. */
  slotCells(slot: number): number {
    return this.filling[slot] ?? this.slots[slot].length;
  }

  check(request: GenerateRequest): void {
    this.grammars.textFor(request);
    checkLogitBias(request.sampling, vocabularySize(this.vocabulary));
  }

  tokenize(prompt: Prompt, limit?: number): Promise<number[] | TooLong> {
    return this.prompts.tokenize(prompt, limit);
  }

  async *generate(
    slot: number,
    promptTokens: readonly number[],
    sampling: SamplingParams,
    signal: AbortSignal,
    controls?: GenerationControls,
  ): AsyncGenerator<EngineEvent> {
    const grammar = controls ? this.grammars.textFor(controls) : undefined;
    const top = controls?.logprobs?.top;
    const budget = Math.min(
      sampling.maxTokens ?? Number.POSITIVE_INFINITY,
      this.contextSize - promptTokens.length,
    );
    const fromSlot = Math.min(commonPrefixLength(this.slots[slot], promptTokens), promptTokens.length - 1);
    // Until the answer is in, the slot's content is unknown: a failure must not leave a stale prefix behind.
    this.slots[slot] = [];
    this.filling[slot] = promptTokens.length;
    const held = [...promptTokens];
    const body = completionBody({ promptTokens, slot, sampling, budget, grammar, topLogprobs: top });
    // One controller for the HTTP request, fed by the client's signal and by a stop string. Not AbortSignal.any:
    // with it edgellm's RSS grew ~46 KiB per request in a 1,200-request soak (Node 20 keeps composite signals
    // alive with their sources); the listener is removed when the answer ends.
    const stop = new AbortController();
    const forward = () => stop.abort(signal.reason);
    if (signal.aborted) forward();
    else signal.addEventListener("abort", forward, { once: true });
    let response: ReadableStream<Uint8Array>;
    try {
      response = await this.post(body, stop.signal);
    } catch (error) {
      signal.removeEventListener("abort", forward);
      this.filling[slot] = undefined;
      throw error;
    }
    const output = new GenerationOutput(sampling, controls);
    let completionTokens = 0;
    /** Whether `held` still has every generated token (a token held back for a partial character has no id). */
    let complete = true;
    /** llama-server's last chunk, once it came. */
    let final: CompletionChunk | undefined;
    /** Whether a stop string ended the answer here, before llama-server's last chunk. */
    let stopped = false;
    try {
      for await (const data of sseData(response)) {
        const chunk = this.parse(data);
        if (chunk.error) throw new EngineRestartingError(`llama-server: ${chunk.error.message}`);
        const ids = chunk.tokens ?? [];
        const predicted = chunk.tokens_predicted ?? completionTokens + ids.length;
        if (complete && predicted === completionTokens + ids.length) held.push(...ids);
        else complete = false;
        completionTokens = Math.max(completionTokens, predicted);
        this.filling[slot] = promptTokens.length + completionTokens;
        const logprobs =
          top === undefined ? [] : (chunk.completion_probabilities ?? []).map((p) => this.logprob(p, top));
        const pushed = output.pushText(chunk.content ?? "", logprobs);
        yield* pushed.events;
        if (chunk.stop) {
          final = chunk;
          break;
        }
        stopped = pushed.stopped;
        if (stopped) break;
      }
      // A body that ends before llama-server's last chunk is a child that died while answering: an answer cut
      // short must never pass for a whole one.
      if (!final && !stopped && !signal.aborted) throw new ChildUnavailableError("the answer ended early");
    } catch (error) {
      if (signal.aborted) return;
      throw error instanceof ChildUnavailableError || error instanceof TypeError
        ? new EngineRestartingError("the engine stopped while answering; it is restarting")
        : error;
    } finally {
      signal.removeEventListener("abort", forward);
      stop.abort(); // a stop string ended the answer here: the child stops at its next token
      this.filling[slot] = undefined;
    }
    if (signal.aborted) return;
    this.slots[slot] = held;
    completionTokens = Math.max(completionTokens, final?.timings?.predicted_n ?? 0);
    const cachedTokens = final?.timings?.cache_n ?? fromSlot;
    this.onPromptReuse?.({
      slot: Math.min(fromSlot, cachedTokens),
      ram: Math.max(0, cachedTokens - fromSlot),
    });
    const finishReason: FinishReason = final?.stop_type === "limit" ? "length" : "stop";
    yield* output.finish(finishReason, completionTokens, cachedTokens);
  }

  async dispose(): Promise<void> {
    await this.child.stop();
    await this.prompts.dispose();
    await this.vocabulary.dispose();
    await this.llama.dispose();
  }

  /** Sends one completion (see LlamaServerChild.post for waits, the one retry and errors). */
  private async post(body: object, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const response = await this.child.post("/completion", JSON.stringify(body), signal);
    if (!response.body) throw new EngineRestartingError("llama-server answered with no body");
    return response.body;
  }

  /** A chunk that is not JSON, or not the shape read here, is the engine's failure (503), never a 500. */
  private parse(data: string): CompletionChunk {
    const chunk = parseCompletionChunk(data);
    if (!chunk) throw new EngineRestartingError("llama-server sent a chunk edgellm cannot read");
    return chunk;
  }

  private logprob(
    reported: NonNullable<CompletionChunk["completion_probabilities"]>[number],
    top: number,
  ): TokenLogprob {
    const alternatives = (reported.top_probs ?? [])
      .slice(0, top)
      .map((p) => this.tokenBytes.entry(p.id, p.prob));
    return { ...this.tokenBytes.entry(reported.id, reported.prob), top: alternatives };
  }
}

/** llama-server's arguments for edgellm's settings (host, port and key are the child manager's). */
export function childArgs(options: LlamaServerEngineOptions): string[] {
  return [
    "--model",
    options.modelPath,
    // llama-server splits its context among the slots; edgellm's context size is per slot.
    "--ctx-size",
    String(options.contextSize * options.parallel),
    "--parallel",
    String(options.parallel),
    "--threads",
    String(options.threads ?? os.availableParallelism()),
    "--cache-ram",
    String(options.promptCacheMiB),
    "--load-mode",
    options.mmap ? "mmap" : "none",
    "--no-webui",
  ];
}
