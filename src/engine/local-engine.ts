import os from "node:os";
import path from "node:path";
import {
  getLlama,
  InputLookupTokenPredictor,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  LlamaLogLevel,
  type LlamaModel,
  type Token,
  TokenBias,
} from "node-llama-cpp";
import { CHATML_TEMPLATE, ChatTemplate } from "./chat-template.js";
import { commonPrefixLength } from "./prefix.js";
import { IncrementalDetokenizer, StopMatcher } from "./text-stream.js";
import type { FinishReason, Prompt, SamplingParams } from "./types.js";

export interface LocalEngineOptions {
  /** Path of the GGUF file. */
  modelPath: string;
  /** Context window per slot, in tokens. Default 4096. */
  contextSize?: number;
  /** Number of parallel slots (sequences sharing one llama.cpp context). Default 1. */
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
}

/** What one generation yields; the scheduler turns it into StreamParts. */
export type EngineEvent =
  | { type: "text"; text: string }
  | { type: "done"; finishReason: FinishReason; completionTokens: number; cachedTokens: number };

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
  ) {}

  static async load(options: LocalEngineOptions): Promise<LocalEngine> {
    const parallel = options.parallel ?? 1;
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: options.modelPath });
    const context = await model.createContext({
      contextSize: options.contextSize ?? 4096,
      sequences: parallel,
      threads: options.threads ?? os.availableParallelism(),
    });
    // Context shift never runs: generate() caps every request at the slot's free space, so an overflowing
    // conversation is refused up front instead of silently losing its beginning.
    const sequences = Array.from({ length: parallel }, () =>
      context.getSequence({ tokenPredictor: options.lookupDecoding ? new InputLookupTokenPredictor() : undefined }),
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
    return new LocalEngine(llama, model, context, sequences, modelId, template);
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
    return prompt.kind === "chat" ? this.template.render(prompt.messages) : prompt.text;
  }

  tokenize(prompt: Prompt): number[] {
    // Special tokens are parsed in both kinds of prompt, as llama-server does.
    const tokens = this.model.tokenize(this.renderChat(prompt), true);
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
    return tokens;
  }

  /**
   * Generates on `slot`, reusing the longest prefix of `promptTokens` already in its KV cache.
   * Stops on end of generation, a stop string, `maxTokens`, or the signal; never shifts the context.
   */
  async *generate(
    slot: number,
    promptTokens: readonly number[],
    sampling: SamplingParams,
    signal: AbortSignal,
  ): AsyncGenerator<EngineEvent> {
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
    let completionTokens = 0;
    let finishReason: FinishReason = "stop";

    const evaluation = sequence.evaluate(promptTokens.slice(cachedTokens) as Token[], {
      temperature: sampling.temperature,
      topK: sampling.topK,
      topP: sampling.topP,
      minP: sampling.minP,
      seed: sampling.seed,
      repeatPenalty: this.penalties(sampling, recent),
      tokenBias: sampling.ignoreEos ? this.eogBans() : undefined,
    });
    try {
      for await (const token of evaluation) {
        if (signal.aborted) return;
        completionTokens++;
        recent.push(token);
        if (recent.length > PENALTY_WINDOW) recent.shift();
        const { emit, stopped } = stops.push(detokenizer.push(token));
        if (emit) yield { type: "text", text: emit };
        if (stopped) break;
        if (completionTokens >= budget) {
          finishReason = "length";
          break;
        }
      }
    } finally {
      await evaluation.return();
    }
    if (signal.aborted) return;
    if (!stops.isStopped) {
      const { emit } = stops.push(detokenizer.flush());
      const rest = emit + stops.flush();
      if (rest) yield { type: "text", text: rest };
    }
    yield { type: "done", finishReason, completionTokens, cachedTokens };
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
    const vocabulary = this.model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 0;
    for (let id = 0; id < vocabulary; id++) {
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
    for (const sequence of this.sequences) sequence.dispose();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}
