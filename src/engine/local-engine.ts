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
import { CHATML_TEMPLATE, ChatTemplate } from "./chat-template.js";
import { GrammarCache } from "./grammar.js";
import { NativeGarbage } from "./native-garbage.js";
import { commonPrefixLength } from "./prefix.js";
import { PromptTokenizer, type TooLong } from "./prompt-tokenizer.js";
import type { SpecialTokens } from "./special-tokens.js";
import { IncrementalDetokenizer, StopMatcher } from "./text-stream.js";
import { TokenBytes } from "./token-bytes.js";
import { ToolCallParser } from "./tool-calls.js";

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
}

/** What one generation yields; the scheduler turns it into StreamParts. */
export type EngineEvent =
  | { type: "text"; text: string; logprobs?: TokenLogprob[] }
  | { type: "tool-call-delta"; index: number; id?: string; name?: string; argumentsDelta: string }
  | { type: "done"; finishReason: FinishReason; completionTokens: number; cachedTokens: number };

/** The parts of a request beyond sampling that shape generation (grammar, tool calls, logprobs). */
export type GenerationControls = Pick<
  GenerateRequest,
  "prompt" | "format" | "toolChoice" | "parallelToolCalls" | "logprobs"
>;

/** What evaluateWithMetadata yields when logprobs are asked for. */
type SampledToken = { token: Token; confidence?: number; probabilities?: Map<Token, number> };

/** ln(0) would be -Infinity, which JSON cannot carry; OpenAI reports -9999 for such tokens. */
const MIN_LOGPROB = -9999;

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
    private readonly template: ChatTemplate,
    private readonly tokenizer: PromptTokenizer,
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
    const metadataTemplate = model.fileInfo.metadata?.tokenizer?.chat_template;
    const template = new ChatTemplate(
      typeof metadataTemplate === "string" ? metadataTemplate : CHATML_TEMPLATE,
      {
        bosToken: model.tokens.bosString ?? "",
        eosToken: model.tokens.eosString ?? "",
      },
    );
    const modelId = options.modelId ?? path.basename(options.modelPath).replace(/\.gguf$/i, "");
    const tokenizer = new PromptTokenizer(model, options.modelPath);
    tokenizer.warmUp();
    return new LocalEngine(llama, model, context, sequences, modelId, template, tokenizer);
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

  renderChat(prompt: Prompt): string {
    return prompt.kind === "chat"
      ? this.template.render(prompt.messages, { tools: prompt.tools })
      : prompt.text;
  }

  /** Refuses up front what generate() would refuse: a schema keyword the grammar cannot enforce. */
  check(request: GenerateRequest): void {
    this.grammars.textFor(request);
  }

  /**
   * The prompt's tokens, or a lower bound on their count when that alone exceeds `limit` (default: none).
   * In a chat only the template's own markers become control tokens: user content, names, tools and tool calls
   * are tokenized as plain text (special-tokens.ts). A raw text prompt is the caller's own and its control-token
   * texts are parsed, as llama-server does. Large prompts are tokenized off the main thread.
   */
  tokenize(prompt: Prompt): Promise<number[]>;
  tokenize(prompt: Prompt, limit: number): Promise<number[] | TooLong>;
  async tokenize(prompt: Prompt, limit = Number.POSITIVE_INFINITY): Promise<number[] | TooLong> {
    const specials = this.tokenizer.specials;
    const pieces =
      prompt.kind === "chat"
        ? specials.split(this.renderChat(escapeChat(prompt, specials)), true)
        : specials.split(prompt.text, false);
    const tokens = await this.tokenizer.tokenize(pieces, limit);
    if (!Array.isArray(tokens)) return tokens;
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
    return tokens;
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
    const cachedTokens = await this.reusePrefix(sequence, promptTokens);
    const budget = Math.min(
      sampling.maxTokens ?? Number.POSITIVE_INFINITY,
      this.contextSize - promptTokens.length,
    );
    const recent = promptTokens.slice(-PENALTY_WINDOW);
    const detokenizer = new IncrementalDetokenizer((tokens, last) =>
      this.model.detokenize(tokens as Token[], false, last as Token[]),
    );
    const stops = new StopMatcher(sampling.stop);
    const hasTools = controls?.prompt.kind === "chat" && (controls.prompt.tools?.length ?? 0) > 0;
    const tools = hasTools && controls?.toolChoice !== "none" ? new ToolCallParser() : undefined;
    const logprobs = controls?.logprobs;
    let pendingLogprobs: TokenLogprob[] = [];
    let completionTokens = 0;
    let finishReason: FinishReason = "stop";

    // Text passes the stop matcher, then the tool-call parser; logprobs ride on the next text released.
    function* release(text: string): Generator<EngineEvent> {
      if (!text) return;
      const events = tools ? tools.push(text) : [{ type: "text" as const, text }];
      for (const event of events) {
        if (event.type === "text") {
          yield { type: "text", text: event.text, logprobs: logprobs ? pendingLogprobs : undefined };
        } else {
          const start = event.type === "call-start";
          yield {
            type: "tool-call-delta",
            index: event.index,
            id: start ? event.id : undefined,
            name: start ? event.name : undefined,
            argumentsDelta: start ? "" : event.text,
          };
        }
        pendingLogprobs = [];
      }
    }

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
        tokenBias: sampling.ignoreEos && !grammar ? this.eogBans() : undefined,
        grammarEvaluationState: grammar
          ? new LlamaGrammarEvaluationState({ model: this.model, grammar })
          : undefined,
      },
    );
    try {
      for await (const output of evaluation) {
        if (signal.aborted) return;
        const token = output.token;
        completionTokens++;
        recent.push(token);
        if (recent.length > PENALTY_WINDOW) recent.shift();
        if (logprobs) pendingLogprobs.push(this.logprob(token, output as SampledToken, logprobs.top));
        const { emit, stopped } = stops.push(detokenizer.push(token));
        yield* release(emit);
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
    if (!stops.isStopped) {
      const { emit } = stops.push(detokenizer.flush());
      yield* release(emit + stops.flush());
    }
    if (tools) {
      for (const event of tools.flush()) {
        if (event.type === "text")
          yield { type: "text", text: event.text, logprobs: logprobs ? pendingLogprobs : undefined };
        else if (event.type === "call-arguments")
          yield { type: "tool-call-delta", index: event.index, argumentsDelta: event.text };
        pendingLogprobs = [];
      }
      if (finishReason === "stop" && tools.callCount > 0) finishReason = "tool_calls";
    }
    if (pendingLogprobs.length > 0) yield { type: "text", text: "", logprobs: pendingLogprobs };
    yield { type: "done", finishReason, completionTokens, cachedTokens };
  }

  private logprob(token: Token, output: SampledToken, top: number): TokenLogprob {
    const entry = (t: Token, p: number) => ({
      token: this.tokenBytes.text(t),
      bytes: this.tokenBytes.bytes(t),
      logprob: p > 0 ? Math.log(p) : MIN_LOGPROB,
    });
    const alternatives: TokenLogprob["top"] = [];
    if (top > 0 && output.probabilities) {
      for (const [t, p] of output.probabilities) {
        if (alternatives.length >= top) break;
        alternatives.push(entry(t, p));
      }
    }
    return { ...entry(token, output.confidence ?? output.probabilities?.get(token) ?? 0), top: alternatives };
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

  /** Bans every end-of-generation token (as llama-server's ignore_eos does), found once by scanning the vocabulary. */
  private eogBans(): TokenBias {
    if (this.eogBias) return this.eogBias;
    const bias = new TokenBias(this.model.tokenizer);
    for (let id = 0; id < vocabularySize(this.model); id++) {
      const token = id as Token;
      if (this.model.isEogToken(token)) bias.set(token, "never");
    }
    for (const token of [this.model.tokens.eos, this.model.tokens.eot]) {
      if (token !== null) bias.set(token, "never");
    }
    this.eogBias = bias;
    return bias;
  }

  /** Releases sequences, context, model and the llama.cpp backend, in that order. */
  async dispose(): Promise<void> {
    await this.tokenizer.dispose();
    for (const sequence of this.sequences) sequence.dispose();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}

/** The chat with every user-written string escaped, so none of it can become a control token. */
function escapeChat(prompt: Prompt & { kind: "chat" }, specials: SpecialTokens): Prompt {
  return {
    kind: "chat",
    messages: prompt.messages.map((message) => ({
      ...message,
      content: specials.escape(message.content),
      ...(message.toolCallId !== undefined ? { toolCallId: specials.escape(message.toolCallId) } : {}),
      ...(message.toolCalls
        ? {
            toolCalls: message.toolCalls.map((call) => ({
              id: call.id,
              name: specials.escape(call.name),
              arguments: specials.escape(call.arguments),
            })),
          }
        : {}),
    })),
    ...(prompt.tools ? { tools: specials.escapeDeep(prompt.tools) } : {}),
  };
}

function vocabularySize(model: LlamaModel): number {
  return model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 0;
}
