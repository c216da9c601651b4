import { z } from "zod";
import type { Filter } from "../kb/filters.js";
import {
  CitationParser,
  type CitedSegment,
  DEFAULT_PASSAGES,
  DEFAULT_RELEVANCE,
  lastQuestion,
  notFoundAnswer,
  type Passage,
  passagesMessage,
  withPassages,
} from "../kb/grounding.js";
import type { KnowledgeBase } from "../kb/knowledge-base.js";
import type { ParsedRequest } from "../openai/from-request.js";
import {
  filterSchema,
  MAX_FILTER_DEPTH,
  nestingDepth,
  rankingOptionsSchema,
} from "../openai/vector-store-schemas.js";
import { InvalidRequestError } from "../provider/errors.js";
import type { ChatMessage, GenerateRequest, ModelProvider, StreamPart } from "../provider/types.js";
import { WrappingProvider } from "../provider/wrapping-provider.js";
import type { Owner } from "../store/kb-store.js";
import { validate } from "./validation.js";

/**
 * A file search a request asks for: the Responses `file_search` tool, or on chat completions edgellm's
 * `file_search` body field (or a `kb:` model name), in one shape.
 */
export const fileSearchSchema = z.object({
  type: z.literal("file_search").optional(),
  vector_store_ids: z.array(z.string().min(1).max(128)).min(1).max(16),
  max_num_results: z.number().int().min(1).max(50).optional(),
  filters: filterSchema.nullable().optional(),
  ranking_options: rankingOptionsSchema.nullable().optional(),
});
export type FileSearchSpec = z.infer<typeof fileSearchSchema>;

/** A file search's spec checked at the edge; `param` names where it came from. */
export function parseFileSearch(value: unknown, param: string): FileSearchSpec {
  if (nestingDepth((value as { filters?: unknown } | null)?.filters) > MAX_FILTER_DEPTH * 2)
    throw new InvalidRequestError(
      `${param}.filters nest deeper than ${MAX_FILTER_DEPTH} levels.`,
      `${param}.filters`,
    );
  try {
    return validate(fileSearchSchema, value);
  } catch (error) {
    if (error instanceof InvalidRequestError)
      throw new InvalidRequestError(
        error.message,
        `${param}${error.param ? `.${error.param}` : ""}`,
        error.code as "invalid_value",
      );
    throw error;
  }
}

export interface Grounding {
  /** The conversation with the passages in it (unchanged when none were found). */
  messages: ChatMessage[];
  /** What was searched for. */
  query: string;
  /** Every search result, numbered in the order the prompt has them. */
  passages: Passage[];
  /** The answer to give without the model, when nothing relevant was found. */
  notFound?: string;
  /** The system message holding the passages, where the conversation got one. */
  added?: ChatMessage;
}

/** Searches the stores for the conversation's last question and puts what it found into the conversation. */
export async function ground(
  kb: KnowledgeBase,
  owner: Owner,
  messages: readonly ChatMessage[],
  spec: FileSearchSpec,
  signal?: AbortSignal,
): Promise<Grounding> {
  const query = lastQuestion(messages);
  if (query.trim() === "")
    throw new InvalidRequestError("file_search needs a user message to search for.", "input");
  const hits = await kb.search(owner, spec.vector_store_ids, query.slice(-4096), {
    maxResults: spec.max_num_results ?? DEFAULT_PASSAGES,
    filters: (spec.filters ?? undefined) as Filter | undefined,
    scoreThreshold: spec.ranking_options?.score_threshold ?? DEFAULT_RELEVANCE,
    rerank: spec.ranking_options?.ranker !== "none",
    hybrid: spec.ranking_options?.hybrid_search && {
      embeddingWeight: spec.ranking_options.hybrid_search.embedding_weight,
      textWeight: spec.ranking_options.hybrid_search.text_weight,
    },
    signal,
  });
  const passages = hits.map((hit, i) => ({ n: i + 1, hit }));
  if (passages.length === 0)
    return { messages: [...messages], query, passages, notFound: notFoundAnswer(query) };
  const added = passagesMessage(passages, query);
  return { messages: withPassages(messages, added), query, passages, added };
}

/**
 * A provider that answers with a fixed text and no model work (the "nothing found" answer), with the
 * model list and names of the one it stands in for.
 */
export class FixedAnswerProvider extends WrappingProvider {
  constructor(
    private readonly text: string,
    inner: ModelProvider,
  ) {
    super(inner);
  }

  override async *stream(_request: GenerateRequest): AsyncIterable<StreamPart> {
    yield { type: "meta", meta: { route: "knowledge-base", routeReason: "no relevant passage found" } };
    yield { type: "text-delta", text: this.text };
    yield {
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 0, completionTokens: 0, cachedTokens: 0 },
    };
  }
}

/** A citation as chat completions' `citations` extension lists it (and the chat page shows it). */
export function toCitation(p: Passage) {
  return {
    index: p.n,
    file_id: p.hit.chunk.fileId,
    filename: p.hit.filename ?? "",
    heading_path: p.hit.chunk.headingPath,
    text: p.hit.chunk.text,
    score: Math.round(p.hit.score * 10_000) / 10_000,
    chunk_index: p.hit.chunk.index,
    vector_store_id: p.hit.chunk.storeId,
  };
}

/**
 * Turns an answer's citation markers into citations of the passages' files, as its text streams: `text` for
 * the text around them and `cite` for each file cited. An answer that cites nothing cites every passage it
 * was given, at its end (a small model often leaves the markers out; the passages were all it was told to use).
 */
export class Citations {
  private readonly parser: CitationParser;
  private cited = false;

  constructor(private readonly passages: readonly Passage[]) {
    this.parser = new CitationParser(passages.length);
  }

  push(text: string, out: { text(t: string): void; cite(p: Passage): void }): void {
    this.emit(this.parser.push(text), out);
  }

  end(out: { text(t: string): void; cite(p: Passage): void }): void {
    this.emit(this.parser.end(), out);
    if (!this.cited) for (const p of this.passages) out.cite(p);
  }

  private emit(segments: CitedSegment[], out: { text(t: string): void; cite(p: Passage): void }): void {
    for (const segment of segments) {
      if ("text" in segment) out.text(segment.text);
      else
        for (const n of segment.cite) {
          const passage = this.passages[n - 1];
          if (passage) {
            this.cited = true;
            out.cite(passage);
          }
        }
    }
  }
}

/**
 * The file search a chat completion asks for: edgellm's `file_search` body field (`{vector_store_ids, ...}`),
 * or a model named `kb:STORE` (a vector store's id or name; the request then goes to the default model), so
 * clients that can only pick a model name use a knowledge base too. Undefined for an ordinary request.
 */
export function chatFileSearch(
  kb: KnowledgeBase,
  owner: Owner,
  body: unknown,
  parsed: ParsedRequest,
):
  | {
      spec: FileSearchSpec;
      messages: ChatMessage[];
      prompt: Extract<ParsedRequest["prompt"], { kind: "chat" }>;
      model: string | undefined;
    }
  | undefined {
  const field = (body as { file_search?: unknown } | null)?.file_search;
  const model = parsed.model;
  const named =
    typeof model === "string" && model.startsWith(KB_MODEL_PREFIX)
      ? model.slice(KB_MODEL_PREFIX.length)
      : undefined;
  if (field == null && named === undefined) return undefined;
  if (parsed.prompt.kind !== "chat") return undefined;
  const spec =
    field != null
      ? parseFileSearch(field, "file_search")
      : { vector_store_ids: [kb.resolveStore(owner, named as string, "model").id] };
  return {
    spec,
    messages: parsed.prompt.messages,
    prompt: parsed.prompt,
    model: named === undefined ? model : undefined,
  };
}

/** `model: "kb:Handbook"` answers from the vector store named (or with the id) Handbook. */
export const KB_MODEL_PREFIX = "kb:";
