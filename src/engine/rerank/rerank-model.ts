import path from "node:path";
import { type LlamaModel, LlamaVocabularyType } from "node-llama-cpp";
import { ContextOverflowError, InvalidRequestError } from "../../provider/errors.js";
import type { RerankModelInfo, RerankResult } from "../../provider/types.js";
import { PromptTokenizer } from "../prompt-tokenizer.js";
import type { PromptPiece } from "../special-tokens.js";

/** Characters of texts tokenized on the event loop between two turns for other work. */
const YIELD_EVERY_CHARS = 64 * 1024;
/** Tokens one request may hold, all pairs together (as for embeddings). */
const MAX_REQUEST_TOKENS = 300_000;

/** One (query, document) pair as the model reads it. */
export interface RerankPair {
  /** The pair's tokens: the template's control tokens, the query and the document as plain text. */
  tokens: number[];
  /** The document as scored (shortened when it had to be). */
  document: string;
}

/** What an engine does for the reranker: one relevance from 0 to 1 per pair, in order. */
export interface RerankBackend {
  score(query: string, pairs: readonly RerankPair[], signal: AbortSignal): Promise<number[]>;
  dispose(): Promise<void>;
}

export interface RerankModelOptions {
  /** The loaded model, or its vocabulary only: it tokenizes. */
  vocabulary: LlamaModel;
  modelPath: string;
  backend: RerankBackend;
  /** Tokens one pair may hold, special tokens included. */
  maxInputTokens: number;
  info: Omit<RerankModelInfo, "maxInputTokens">;
  /** Whether dispose() frees `vocabulary` too (a vocabulary loaded for tokenizing only). Default false. */
  ownsVocabulary?: boolean;
}

/**
 * The part both engines share: each (query, document) pair becomes the tokens llama-server's `/rerank` gives
 * the model (the GGUF's `rerank` template with the two texts in it, or BOS query EOS SEP document EOS where
 * the vocabulary adds those), with the query and the document always plain text: a control token's text in
 * them stays text. A pair too long for the context is refused, or with `truncate` its document is shortened
 * to fit (search does that; the API refuses, as it does for embeddings).
 */
export class RerankModel {
  readonly info: RerankModelInfo;
  private readonly tokenizer: PromptTokenizer;
  private readonly template: { before: string; between: string; after: string; queryFirst: boolean } | null;
  private readonly added: { bos: number | null; eos: number | null; sep: number | null };

  constructor(private readonly options: RerankModelOptions) {
    this.info = { ...options.info, maxInputTokens: options.maxInputTokens };
    this.tokenizer = new PromptTokenizer(options.vocabulary, options.modelPath);
    this.template = parseTemplate(rerankTemplateOf(options.vocabulary));
    this.added = addedTokens(options.vocabulary);
  }

  async rank(
    query: string,
    documents: readonly string[],
    options: { signal: AbortSignal; truncate?: boolean },
  ): Promise<RerankResult> {
    const pairs: RerankPair[] = [];
    let total = 0;
    let inPlace = query.length;
    for (const [index, document] of documents.entries()) {
      options.signal.throwIfAborted();
      inPlace += document.length;
      if (inPlace > YIELD_EVERY_CHARS) {
        inPlace = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const pair = await this.pair(query, document, index, options.truncate ?? false);
      total += pair.tokens.length;
      if (total > MAX_REQUEST_TOKENS)
        throw new InvalidRequestError(
          (name) =>
            `Invalid value for '${name("documents")}': one request may hold at most ${MAX_REQUEST_TOKENS} tokens, ` +
            `and its first ${index + 1} documents with the query already hold ${total}. Send fewer documents.`,
          { field: "documents" },
        );
      pairs.push(pair);
    }
    const scores = pairs.length === 0 ? [] : await this.options.backend.score(query, pairs, options.signal);
    return { scores, promptTokens: total };
  }

  async dispose(): Promise<void> {
    await this.tokenizer.dispose();
    await this.options.backend.dispose();
    if (this.options.ownsVocabulary) await this.options.vocabulary.dispose();
  }

  private async pair(query: string, document: string, index: number, truncate: boolean): Promise<RerankPair> {
    const max = this.options.maxInputTokens;
    let text = document;
    for (let attempt = 0; ; attempt++) {
      const result = await this.tokenizer.tokenize(this.pieces(query, text), truncate ? Infinity : max);
      if (Array.isArray(result) && result.length <= max) return { tokens: result, document: text };
      const tokens = Array.isArray(result) ? result.length : result.atLeast;
      if (!truncate) throw this.tooLong(tokens, index, !Array.isArray(result));
      // Shortened by what is over, at the document's own tokens, plus a little for tokens that merge
      // differently at the cut; twice at most, then refused.
      const own = this.options.vocabulary.tokenize(text, false);
      const keep = own.length - (tokens - max) - 4 * (attempt + 1);
      if (keep <= 0 || attempt >= 2)
        throw new ContextOverflowError(
          () =>
            `The query alone takes the reranker's whole context of ${max} tokens. Please shorten the query.`,
          "query",
        );
      text = this.options.vocabulary.detokenize(own.slice(0, keep));
    }
  }

  /** The pair as control tokens and plain text (llama-server's format_prompt_rerank). */
  private pieces(query: string, document: string): PromptPiece[] {
    const template = this.template;
    if (template) {
      const { specials } = this.tokenizer;
      // The template's own control tokens are split out; the texts are escaped first so theirs stay text.
      const [first, second] = template.queryFirst ? [query, document] : [document, query];
      const rendered =
        template.before +
        specials.escape(first) +
        template.between +
        specials.escape(second) +
        template.after;
      return specials.split(rendered, true);
    }
    const { bos, eos, sep } = this.added;
    const pieces: PromptPiece[] = [];
    if (bos !== null) pieces.push({ token: bos });
    if (query !== "") pieces.push({ text: query });
    if (eos !== null) pieces.push({ token: eos });
    if (sep !== null) pieces.push({ token: sep });
    if (document !== "") pieces.push({ text: document });
    if (eos !== null) pieces.push({ token: eos });
    return pieces;
  }

  private tooLong(tokens: number, index: number, atLeast: boolean): ContextOverflowError {
    const max = this.options.maxInputTokens;
    return new ContextOverflowError(
      (name) =>
        `This reranker's maximum context length is ${max} tokens for the query and one document. However, ` +
        `'${name("documents")}[${index}]' with the query takes ${atLeast ? "at least " : ""}${tokens} tokens. ` +
        "Please shorten the document.",
      "documents",
    );
  }
}

/** Throws unless the model has a ranking head (llama.cpp's cls.weight or cls.output.weight). */
export function checkReranker(model: Pick<LlamaModel, "fileInsights">, modelPath: string): void {
  if (!model.fileInsights.supportsRanking)
    throw new Error(
      `${path.basename(modelPath)} is not a reranker: it has no ranking head (cls.weight or cls.output.weight)`,
    );
}

/** The GGUF's reranking prompt (`tokenizer.chat_template.rerank`, with `{query}` and `{document}`), if any. */
export function rerankTemplateOf(model: Pick<LlamaModel, "fileInfo">): string | undefined {
  const tokenizer = model.fileInfo.metadata?.tokenizer as Record<string, unknown> | undefined;
  const template = tokenizer?.["chat_template.rerank"];
  return typeof template === "string" ? template : undefined;
}

function parseTemplate(
  template: string | undefined,
): { before: string; between: string; after: string; queryFirst: boolean } | null {
  if (template === undefined) return null;
  const q = template.indexOf("{query}");
  const d = template.indexOf("{document}");
  if (q < 0 || d < 0) throw new Error("the reranker's rerank template lacks {query} or {document}");
  const [first, firstLength, second, secondLength] =
    q < d ? [q, "{query}".length, d, "{document}".length] : [d, "{document}".length, q, "{query}".length];
  return {
    before: template.slice(0, first),
    between: template.slice(first + firstLength, second),
    after: template.slice(second + secondLength),
    queryFirst: q < d,
  };
}

/** The tokens llama.cpp puts around the query and the document when a reranker has no template. */
function addedTokens(model: LlamaModel): { bos: number | null; eos: number | null; sep: number | null } {
  const { tokens } = model;
  const metadata = model.fileInfo.metadata?.tokenizer?.ggml as
    | { add_sep_token?: boolean; pre?: string }
    | undefined;
  // llama-vocab.cpp: WordPiece vocabularies and the RoBERTa-like BPE ones add SEP unless the GGUF says.
  const addSep =
    metadata?.add_sep_token ??
    (model.vocabularyType === LlamaVocabularyType.wpm ||
      ["jina-v1-en", "jina-v2-code", "roberta-bpe"].includes(metadata?.pre ?? ""));
  const eos = tokens.eos ?? tokens.sep;
  return {
    bos: tokens.shouldPrependBosToken ? tokens.bos : null,
    eos: tokens.shouldAppendEosToken ? eos : null,
    sep: addSep ? tokens.sep : null,
  };
}

/**
 * Whether the architecture's ranking head gives a probability already (llama.cpp applies a softmax for Qwen3
 * rerankers); for the others it gives a logit, which is turned into one with the sigmoid.
 */
export function scoresAreProbabilities(model: Pick<LlamaModel, "fileInfo">): boolean {
  const architecture = model.fileInfo.metadata?.general?.architecture as string | undefined;
  return architecture === "qwen3" || architecture === "qwen3vl";
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
