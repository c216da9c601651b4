import os from "node:os";
import path from "node:path";
import {
  getLlama,
  InputLookupTokenPredictor,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  LlamaGrammarEvaluationState,
  LlamaLogLevel,
  type LlamaModel,
  type Token,
  TokenBias,
} from "node-llama-cpp";
import { SETTINGS } from "../config/settings.js";
import type {
  FinishReason,
  GenerateRequest,
  Prompt,
  SamplingParams,
  TokenLogprob,
} from "../provider/types.js";
import { ChatPrompt, vocabularySize } from "./chat-prompt.js";
import type { EngineEvent, GenerationControls, PromptReuse } from "./engine-types.js";
import { GenerationOutput } from "./generation-output.js";
import { GrammarCache } from "./grammar.js";
import { checkLogitBias, setBias, toTokenBias } from "./logit-bias.js";
import { NativeGarbage } from "./native-garbage.js";
import { commonPrefixLength } from "./prefix.js";
import type { TooLong } from "./prompt-tokenizer.js";
import { SlotStateStore } from "./slot-states.js";
import { TokenBytes } from "./token-bytes.js";

export interface LocalEngineOptions {
  /** Path of the GGUF file. */
  modelPath: string;
  /** Context window per slot, in tokens. Default: `--ctx-size`'s, SETTINGS.ctxSize (4096). */
  contextSize?: number;
  /** Number of parallel slots (sequences sharing one llama.cpp context). Default: `--parallel`'s (4). */
  parallel?: number;
  /** CPU threads for evaluation. Default: every core. */
  threads?: number;
  /** Model id reported by /v1/models. Default: the file name without `.gguf`. */
  modelId?: string;
  /**
   * Speculative decoding by prompt lookup: draft tokens are copied from n-gram matches in the prompt and
   * verified in one batch. Pays off when answers copy from their input (rewriting, extraction). Default false.
   */
  lookupDecoding?: boolean;
  /** Memory-map the model file instead of reading it. Default false (see load()). */
  mmap?: boolean;
  /**
   * Bytes of saved KV states of conversations that lost their slot (SlotStateStore); 0 turns it off.
   * Default: `--prompt-cache-ram`'s.
   */
  promptCacheBytes?: number;
}

/**
 * A slot's content is saved before a request erases at least this many of its tokens. Fewer are cheaper to
 * recompute than to keep (a regenerated answer, a short exchange).
 */
const SAVE_MIN_TOKENS = 64;
/** A saved state is loaded when it holds at least this many more of the prompt than the slot does. */
const RESTORE_MIN_GAIN = 64;

/** What evaluateWithMetadata yields when logprobs are asked for. */
type SampledToken = { token: Token; confidence?: number; probabilities?: Map<Token, number> };

/** How many recent tokens the repetition penalties look at (llama-server's repeat_last_n). */
const PENALTY_WINDOW = 64;

/**
 * The model, one llama.cpp context and its sequences ("slots"). It knows how to evaluate a prompt on a
 * slot while reusing the slot's cached prefix; it does not decide which request gets which slot.
 */
export class LocalEngine {
  private constructor(
    private readonly llama: Llama,
    readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly sequences: LlamaContextSequence[],
    readonly modelId: string,
    private readonly prompts: ChatPrompt,
    private readonly states: SlotStateStore | undefined,
  ) {
    this.grammars = new GrammarCache(llama);
    this.tokenBytes = new TokenBytes(model);
    // llama_token_data is {id, logit, p}: 12 bytes per vocabulary entry in every sampler.
    this.garbage = new NativeGarbage(12 * vocabularySize(model));
  }

  /** Compiled grammars, least recently used evicted. */
  readonly grammars: GrammarCache;
  private readonly tokenBytes: TokenBytes;
  private readonly garbage: NativeGarbage;
  /** Called after each generation with where its reused prompt tokens came from. */
  onPromptReuse?: (reuse: PromptReuse) => void;

  static async load(options: LocalEngineOptions): Promise<LocalEngine> {
    const parallel = options.parallel ?? SETTINGS.parallel.default;
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    // llama.cpp repacks quantized weights for the CPU's SIMD layout; with mmap the file's pages stay resident
    // beside the repacked copy, so reading the file once (no mmap) keeps about the file's size less in RSS.
    const model = await llama.loadModel({ modelPath: options.modelPath, useMmap: options.mmap ?? false });
    const context = await model.createContext({
      contextSize: options.contextSize ?? SETTINGS.ctxSize.default,
      sequences: parallel,
      threads: options.threads ?? os.availableParallelism(),
      // Flash attention never materializes the batch x cache attention matrix: faster prefill, smaller buffers.
      flashAttention: true,
    });
    // Context shift never runs: generate() caps every request at the slot's free space, so an overflowing
    // conversation is refused up front instead of silently losing its beginning.
    const sequences = Array.from({ length: parallel }, () =>
      context.getSequence({
        tokenPredictor: options.lookupDecoding ? new InputLookupTokenPredictor() : undefined,
      }),
    );
    const modelId = options.modelId ?? path.basename(options.modelPath).replace(/\.gguf$/i, "");
    const states = await SlotStateStore.create(
      options.promptCacheBytes ?? SETTINGS.promptCacheRam.default * 1024 * 1024,
    );
    return new LocalEngine(
      llama,
      model,
      context,
      sequences,
      modelId,
      new ChatPrompt(model, options.modelPath),
      states,
    );
  }

  /** Tokens per slot. */
  get contextSize(): number {
    return this.context.contextSize;
  }

  get slotCount(): number {
    return this.sequences.length;
  }

  /** The tokens currently held in a slot's KV cache. */
  slotTokens(slot: number): readonly number[] {
    return this.sequences[slot].contextTokens;
  }

  /** KV cells the slot's sequence fills: its evaluated tokens, the prompt and what has been generated. */
  slotCells(slot: number): number {
    return this.sequences[slot].nextTokenIndex;
  }

  renderChat(prompt: Prompt): string {
    return this.prompts.render(prompt);
  }

  /** Refuses up front what generate() would refuse: a schema keyword the grammar cannot enforce. */
  check(request: GenerateRequest): void {
    this.grammars.textFor(request);
    checkLogitBias(request.sampling, vocabularySize(this.model));
  }

  /** The prompt's tokens, or a lower bound on their count when that alone exceeds `limit` (see ChatPrompt). */
  tokenize(prompt: Prompt): Promise<number[]>;
  tokenize(prompt: Prompt, limit: number): Promise<number[] | TooLong>;
  tokenize(prompt: Prompt, limit?: number): Promise<number[] | TooLong> {
    return this.prompts.tokenize(prompt, limit);
  }

  /**
   * Generates on `slot`, reusing the longest prefix of `promptTokens` already in its KV cache.
   * Stops on end of generation, a stop string, `maxTokens`, or the signal; never shifts the context.
   * With a grammar (response_format, forced tool calls) only the grammar's documents can be sampled, and
   * end of generation becomes possible exactly when the document is complete.
   */
  async *generate(
    slot: number,
    promptTokens: readonly number[],
    sampling: SamplingParams,
    signal: AbortSignal,
    controls?: GenerationControls,
  ): AsyncGenerator<EngineEvent> {
    const grammar = controls ? await this.grammars.forRequest(controls) : undefined;
    const sequence = this.sequences[slot];
    const fromSlot = commonPrefixLength(sequence.contextTokens, promptTokens);
    await this.swapState(sequence, promptTokens, fromSlot);
    const cachedTokens = await this.reusePrefix(sequence, promptTokens);
    const budget = Math.min(
      sampling.maxTokens ?? Number.POSITIVE_INFINITY,
      this.contextSize - promptTokens.length,
    );
    const recent = promptTokens.slice(-PENALTY_WINDOW);
    const output = new GenerationOutput(sampling, controls, (tokens, last) =>
      this.model.detokenize(tokens as Token[], false, last as Token[]),
    );
    const logprobs = controls?.logprobs;
    let completionTokens = 0;
    let finishReason: FinishReason = "stop";

    const evaluation = sequence.evaluateWithMetadata(
      promptTokens.slice(cachedTokens) as Token[],
      { confidence: logprobs !== undefined, probabilities: (logprobs?.top ?? 0) > 0 },
      {
        temperature: sampling.temperature,
        topK: sampling.topK,
        topP: sampling.topP,
        minP: sampling.minP,
        seed: sampling.seed,
        repeatPenalty: this.penalties(sampling, recent),
        // A grammar ends only through end of generation, so ignore_eos cannot apply to it.
        tokenBias: this.tokenBias(sampling, grammar !== undefined),
        grammarEvaluationState: grammar
          ? new LlamaGrammarEvaluationState({ model: this.model, grammar })
          : undefined,
      },
    );
    try {
      for await (const sampled of evaluation) {
        if (signal.aborted) return;
        const token = sampled.token;
        completionTokens++;
        recent.push(token);
        if (recent.length > PENALTY_WINDOW) recent.shift();
        const logprob = logprobs ? this.logprob(token, sampled as SampledToken, logprobs.top) : undefined;
        const { events, stopped } = output.push(token, logprob);
        yield* events;
        if (stopped) break;
        if (completionTokens >= budget) {
          finishReason = "length";
          break;
        }
      }
    } finally {
      await evaluation.return();
      this.garbage.released();
    }
    if (signal.aborted) return;
    const slotShare = Math.min(fromSlot, cachedTokens);
    this.onPromptReuse?.({ slot: slotShare, ram: cachedTokens - slotShare });
    yield* output.finish(finishReason, completionTokens, cachedTokens);
  }

  /**
   * Before `promptTokens` replace much of what the slot holds, saves the slot's state; then, when a saved
   * state holds more of the prompt than the slot does (the conversation had lost its slot), loads it.
   */
  private async swapState(
    sequence: LlamaContextSequence,
    promptTokens: readonly number[],
    fromSlot: number,
  ): Promise<void> {
    if (!this.states) return;
    if (sequence.contextTokens.length - fromSlot >= SAVE_MIN_TOKENS) await this.states.save(sequence);
    const saved = this.states.find(promptTokens, fromSlot + RESTORE_MIN_GAIN - 1);
    if (saved) await this.states.restore(sequence, saved.state);
  }

  private logprob(token: Token, output: SampledToken, top: number): TokenLogprob {
    const alternatives: TokenLogprob["top"] = [];
    if (top > 0 && output.probabilities) {
      for (const [t, p] of output.probabilities) {
        if (alternatives.length >= top) break;
        alternatives.push(this.tokenBytes.entry(t, p));
      }
    }
    const probability = output.confidence ?? output.probabilities?.get(token) ?? 0;
    return { ...this.tokenBytes.entry(token, probability), top: alternatives };
  }

  private async reusePrefix(
    sequence: LlamaContextSequence,
    promptTokens: readonly number[],
  ): Promise<number> {
    let common = commonPrefixLength(sequence.contextTokens, promptTokens);
    // The last prompt token must be evaluated to get the logits of the first new token.
    if (common === promptTokens.length) common--;
    if (common < sequence.nextTokenIndex) {
      await sequence.eraseContextTokenRanges([{ start: common, end: sequence.nextTokenIndex }]);
    }
    return common;
  }

  private penalties(sampling: SamplingParams, recent: number[]) {
    const active =
      sampling.repetitionPenalty !== 1 || sampling.presencePenalty !== 0 || sampling.frequencyPenalty !== 0;
    if (!active) return undefined;
    return {
      punishTokens: () => recent as Token[],
      maxPunishTokens: PENALTY_WINDOW,
      penalty: sampling.repetitionPenalty,
      presencePenalty: sampling.presencePenalty,
      frequencyPenalty: sampling.frequencyPenalty,
    };
  }

  private eogBias?: TokenBias;

  /** The request's logit_bias, with end of generation banned for ignore_eos (which a grammar cannot use). */
  private tokenBias(sampling: SamplingParams, constrained: boolean): TokenBias | undefined {
    const banEog = sampling.ignoreEos && !constrained;
    if (!sampling.logitBias?.length) return banEog ? this.eogBans() : undefined;
    const bias = toTokenBias(this.model, sampling.logitBias);
    return banEog ? this.banEog(bias) : bias;
  }

  private eogBans(): TokenBias {
    this.eogBias ??= this.banEog(new TokenBias(this.model.tokenizer));
    return this.eogBias;
  }

  /** Bans every end-of-generation token (as llama-server's ignore_eos does), found by scanning the vocabulary. */
  private banEog(bias: TokenBias): TokenBias {
    for (let id = 0; id < vocabularySize(this.model); id++) {
      const token = id as Token;
      if (this.model.isEogToken(token)) setBias(bias, token, -Infinity);
    }
    for (const token of [this.model.tokens.eos, this.model.tokens.eot]) {
      if (token !== null) setBias(bias, token, -Infinity);
    }
    return bias;
  }

  /** Releases sequences, context, model and the llama.cpp backend, in that order. */
  async dispose(): Promise<void> {
    await this.prompts.dispose();
    await this.states?.dispose();
    for (const sequence of this.sequences) sequence.dispose();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}
