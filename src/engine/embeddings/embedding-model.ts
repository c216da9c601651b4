import { GgufMetadataArchitecturePoolingType, type LlamaModel, LlamaVocabularyType } from "node-llama-cpp";
import { ContextOverflowError, InvalidRequestError } from "../../provider/errors.js";
import type { EmbeddingInput, EmbeddingModelInfo, EmbeddingResult } from "../../provider/types.js";
import { vocabularySize } from "../chat-prompt.js";
import { PromptTokenizer } from "../prompt-tokenizer.js";

const MAX_REQUEST_TOKENS = 300_000;
/** Characters of texts tokenized on the event loop between two turns for other work. */
const YIELD_EVERY_CHARS = 64 * 1024;

/** How token vectors become one vector per input (llama.cpp's pooling types that give one). */
export type Pooling = "mean" | "cls" | "last";

/**
 * The GGUF's own pooling when it names one; else (a chat model) the last token's vector. Not mean, though
 * it is the usual choice for a chat model: llama-server's mean pooling gave the same text a different
 * vector depending on which other inputs shared its batch (the tiny test model, this build: "hello world"
 * alone and beside "hi" differed), while last pooling was the same in every batch, and it is what
 * node-llama-cpp computes in-process for a model with no pooling type, so both engines agree.
 */
export function poolingOf(model: Pick<LlamaModel, "fileInfo">): Pooling {
  const type = (model.fileInfo.architectureMetadata as { pooling_type?: number } | undefined)?.pooling_type;
  if (type === GgufMetadataArchitecturePoolingType.mean) return "mean";
  if (type === GgufMetadataArchitecturePoolingType.cls) return "cls";
  return "last";
}

/** The context of each input: `wanted` tokens, within the model's training context. */
export function contextOf(model: Pick<LlamaModel, "trainContextSize">, wanted: number): number {
  const trained = model.trainContextSize;
  return trained > 0 ? Math.min(wanted, trained) : wanted;
}

/** What an engine does for the embedding model: one raw vector per prepared token list, in order. */
export interface EmbeddingBackend {
  /** Each list fits the context; vectors need not be normalized. */
  embed(inputs: readonly (readonly number[])[], signal: AbortSignal): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export interface EmbeddingModelOptions {
  /** The loaded model, or its vocabulary only: it tokenizes, and tells the vocabulary size. */
  vocabulary: LlamaModel;
  modelPath: string;
  backend: EmbeddingBackend;
  /** Tokens one input may hold, special tokens included. */
  maxInputTokens: number;
  info: Omit<EmbeddingModelInfo, "maxInputTokens">;
  /**
   * Tokens one request may hold, all inputs together: OpenAI's limit, which keeps one request from holding
   * the model for long (inputs are refused before any is evaluated). Default 300 000.
   */
  maxRequestTokens?: number;
  /** Whether dispose() frees `vocabulary` too (a vocabulary loaded for tokenizing only). Default false. */
  ownsVocabulary?: boolean;
}

/**
 * The part both engines share: inputs to token lists (texts tokenized as plain text, large ones off the
 * event loop, and a text refused by its size alone before tokenizing; token ids checked against the
 * vocabulary), the special tokens llama.cpp adds for embeddings, the context check, and unit length.
 */
export class EmbeddingModel {
  readonly info: EmbeddingModelInfo;
  private readonly tokenizer: PromptTokenizer;
  private readonly vocabularySize: number;
  private readonly first: number | null;
  private readonly last: number | null;

  constructor(private readonly options: EmbeddingModelOptions) {
    this.info = { ...options.info, maxInputTokens: options.maxInputTokens };
    this.tokenizer = new PromptTokenizer(options.vocabulary, options.modelPath);
    this.vocabularySize = vocabularySize(options.vocabulary);
    [this.first, this.last] = addedTokens(options.vocabulary);
  }

  async embed(inputs: readonly EmbeddingInput[], signal: AbortSignal): Promise<EmbeddingResult> {
    const lists: number[][] = [];
    const budget = this.options.maxRequestTokens ?? MAX_REQUEST_TOKENS;
    let total = 0;
    let inPlace = 0;
    for (const [index, input] of inputs.entries()) {
      signal.throwIfAborted();
      // Each small text is tokenized in place (a large one on the worker); many of them together would
      // hold the event loop, so other requests get a turn every 64 Ki characters (15-30 ms at the 2-4 MB/s
      // prompt-tokenizer.ts measured).
      if (typeof input === "string") inPlace += input.length;
      if (inPlace > YIELD_EVERY_CHARS) {
        inPlace = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const tokens = await this.prepare(input, inputs.length > 1 ? `[${index}]` : "");
      total += tokens.length;
      if (total > budget)
        throw new InvalidRequestError(
          (name) =>
            `Invalid value for '${name("input")}': one request may hold at most ${budget} tokens, and its ` +
            `first ${index + 1} inputs already hold ${total}. Send the inputs in several requests.`,
          { field: "input" },
        );
      lists.push(tokens);
    }
    const raw = await this.options.backend.embed(lists, signal);
    return {
      vectors: raw.map(unitLength),
      promptTokens: lists.reduce((sum, list) => sum + list.length, 0),
    };
  }

  async dispose(): Promise<void> {
    await this.tokenizer.dispose();
    await this.options.backend.dispose();
    if (this.options.ownsVocabulary) await this.options.vocabulary.dispose();
  }

  private async prepare(input: EmbeddingInput, at: string): Promise<number[]> {
    const max = this.options.maxInputTokens;
    const extra = (this.first === null ? 0 : 1) + (this.last === null ? 0 : 1);
    let tokens: number[];
    if (typeof input === "string") {
      const result = await this.tokenizer.tokenize([{ text: input }], max - extra);
      if (!Array.isArray(result)) throw this.tooLong(result.atLeast + extra, at, true);
      tokens = result;
    } else {
      const bad = input.find((id) => id >= this.vocabularySize);
      if (bad !== undefined)
        throw new InvalidRequestError(
          (name) =>
            `Invalid value for '${name("input")}${at}': token id ${bad} is not in this model's vocabulary ` +
            `(ids 0 to ${this.vocabularySize - 1}).`,
          { field: "input" },
        );
      tokens = [...input];
    }
    // As llama.cpp does for embeddings (and node-llama-cpp's embedding context): BOS or CLS first, EOS or
    // SEP last, where the vocabulary wants them.
    if (this.first !== null && tokens[0] !== this.first) tokens.unshift(this.first);
    if (this.last !== null && tokens.at(-1) !== this.last) tokens.push(this.last);
    if (tokens.length > max) throw this.tooLong(tokens.length, at, false);
    return tokens;
  }

  private tooLong(tokens: number, at: string, atLeast: boolean): ContextOverflowError {
    const max = this.options.maxInputTokens;
    return new ContextOverflowError(
      (name) =>
        `This model's maximum context length is ${max} tokens. However, you requested ${atLeast ? "at least " : ""}` +
        `${tokens} tokens in '${name("input")}${at}'. Please reduce the length of the input.`,
      "input",
    );
  }
}

/** The tokens llama.cpp adds around an input to embed (llama_tokenize with add_special). */
function addedTokens(model: LlamaModel): [number | null, number | null] {
  const { tokens } = model;
  switch (model.vocabularyType) {
    case LlamaVocabularyType.rwkv:
      return [null, null];
    case LlamaVocabularyType.wpm:
      return [tokens.bos, tokens.sep];
    case LlamaVocabularyType.ugm:
      return [null, tokens.eos];
    default:
      return [
        tokens.shouldPrependBosToken ? tokens.bos : null,
        tokens.shouldAppendEosToken ? tokens.eos : null,
      ];
  }
}

function unitLength(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const x of vector) sum += x * x;
  const norm = Math.sqrt(sum);
  if (norm === 0 || !Number.isFinite(norm)) return vector;
  return vector.map((x) => x / norm);
}
