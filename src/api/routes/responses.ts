import type { FastifyReply, FastifyRequest } from "fastify";
import type {
  FileSearchTool,
  ResponseFileSearchToolCall,
  ResponseStreamEvent,
} from "openai/resources/responses/responses";
import type { Passage } from "../../kb/grounding.js";
import { withPassages } from "../../kb/grounding.js";
import type { KnowledgeBase } from "../../kb/knowledge-base.js";
import { encodeCompaction, summaryMessage } from "../../openai/compaction.js";
import type { ParsedRequest } from "../../openai/from-request.js";
import { fromResponsesRequest, type ResponsesHistory } from "../../openai/from-responses-request.js";
import type { ResponsesRequestBody } from "../../openai/responses-schema.js";
import { newItemId, ResponseEventBuilder } from "../../openai/to-responses.js";
import {
  ConversationNotFoundError,
  InvalidRequestError,
  ResponseNotFoundError,
} from "../../provider/errors.js";
import type { ChatMessage, ModelProvider, StreamPart } from "../../provider/types.js";
import { splitTurns } from "../../scheduler/fit-history.js";
import type { ResponseStore, StoredResponse } from "../../store/response-store.js";
import type {
  ConversationItemRecord,
  SqliteConversationStore,
} from "../../store/sqlite-conversation-store.js";
import { toErrorResponse } from "../errors.js";
import {
  Citations,
  type FileSearchSpec,
  FixedAnswerProvider,
  type Grounding,
  ground,
  parseFileSearch,
} from "../grounding.js";
import { ownerOf } from "../owner.js";
import { parseResponsesBody } from "../parse-request.js";
import type { SseWriter } from "../sse.js";
import { summarize } from "./compact.js";
import { toConversationItem } from "./conversations.js";
import { beginGeneration, openStream, servingHeaders, toServingBody } from "./generate.js";
import type { TokenCounter } from "./messages.js";

/** Names the built-in tools a request offered that were left out (this server does not have them). */
export const TOOLS_IGNORED_HEADER = "x-edgellm-tools-ignored";

/**
 * `POST /v1/responses`: the same generation as chat completions (same provider chain, local or upstream),
 * written as a Response object or its event stream. With `store` (OpenAI's default) the answer is kept
 * for `previous_response_id`, `item_reference` and `GET /v1/responses/{id}`.
 */
export async function serveResponse(
  provider: ModelProvider,
  store: ResponseStore,
  request: FastifyRequest,
  reply: FastifyReply,
  limits: { bodyLimit: number },
  kb?: KnowledgeBase,
  conversations?: SqliteConversationStore,
  countTokens?: TokenCounter,
): Promise<void> {
  const { req, fileSearch } = takeFileSearch(parseResponsesBody(request.body));
  const owner = ownerOf(request);
  const thread = req.conversation != null ? openConversation(conversations, req, owner) : undefined;
  const translated = fromResponsesRequest(req, {
    ...storedHistory(store, req, request),
    conversationItems: thread?.items,
  });
  const { parsed, echo, ignoredTools, namespaced } = translated;
  if (ignoredTools.length > 0) {
    // Offered, not forced: the answer goes on without them, and says so.
    reply.header(TOOLS_IGNORED_HEADER, ignoredTools.join(", "));
    request.log.info(
      { tools: ignoredTools },
      "built-in tools offered that this server does not have were left out",
    );
  }
  let { conversation } = translated;
  let grounding: Grounding | undefined;
  let answering = provider;
  if (fileSearch) {
    if (!kb)
      throw new InvalidRequestError(
        "This server has no knowledge base.",
        `tools[${fileSearch.index}]`,
        "unsupported_tool",
      );
    grounding = await ground(kb, owner, messagesOf(parsed), fileSearch.spec);
    if (grounding.added) {
      parsed.prompt = { ...parsed.prompt, messages: grounding.messages } as typeof parsed.prompt;
      // Kept with the conversation, so the next turn's prompt starts with this one's (its KV cache is reused).
      conversation = withPassages(conversation, grounding.added);
    }
    if (grounding.notFound) answering = new FixedAnswerProvider(grounding.notFound, provider);
    echo.tools = [...echo.tools, fileSearch.echo];
  }
  const compacted = await compactIfOver(provider, req, parsed, countTokens, reply);
  if (compacted) {
    conversation = compacted.conversation;
    reply.header("x-edgellm-compacted", `turns=${compacted.turns}, tokens=${compacted.tokens}`);
  }
  const { model, serving, first, parts } = await beginGeneration(answering, parsed, request, reply);
  const builder = new ResponseEventBuilder({
    id: newItemId("resp"),
    createdAt: Math.floor(Date.now() / 1000),
    model: serving.model ?? model,
    echo,
    namespaced,
  });
  const headers = servingHeaders(serving);
  const keep = () => {
    // The input and the answer join the conversation first: past its bounds, that is the request's error.
    if (thread && conversations)
      conversations.add(thread.id, [...thread.input, ...conversationOutput(builder)]);
    if (echo.store)
      store.put({
        response: builder.response(),
        conversation: [...conversation, ...builder.conversation()],
        items: builder.items(),
        owner,
      });
  };

  // A compaction's item comes first, then the search's; the answer's citation markers become annotations.
  const compaction = compacted ? builder.compaction(compacted.encrypted) : [];
  const opening = grounding
    ? builder.fileSearchCall(
        [grounding.query],
        fileSearch?.includeResults ? grounding.passages.map((p) => toFileSearchResult(p)) : null,
      )
    : [];
  const citations = grounding?.passages.length ? new Citations(grounding.passages) : undefined;
  const feed = (part: StreamPart): ResponseStreamEvent[] => {
    // With citations the text is rewritten (markers become annotations), so token logprobs, which would
    // no longer line up with it, are left out.
    if (!citations) return builder.push(part);
    const events: ResponseStreamEvent[] = [];
    const out = {
      text: (text: string) => events.push(...builder.push({ type: "text-delta", text })),
      cite: (p: Passage) =>
        events.push(...builder.annotate({ file_id: p.hit.chunk.fileId, filename: p.hit.filename ?? "" })),
    };
    if (part.type === "text-delta") citations.push(part.text, out);
    else {
      if (part.type === "finish") citations.end(out);
      events.push(...builder.push(part));
    }
    return events;
  };

  if (!parsed.stream) {
    let finished = false;
    for (let step = first; !step.done; step = await parts.next()) {
      feed(step.value);
      if (step.value.type === "finish") finished = true;
    }
    if (!finished) return; // aborted: nobody is listening
    keep();
    const body = builder.response();
    await reply
      .headers(headers)
      .send(Object.keys(serving).length > 0 ? { ...body, edgellm: toServingBody(serving) } : body);
    return;
  }

  const sse = openStream(reply, headers);
  send(sse, builder.start());
  send(sse, compaction);
  send(sse, opening);
  try {
    for (let step = first; !step.done; step = await parts.next()) {
      const events = feed(step.value);
      // Kept before the last event goes out: a client may build on the response as soon as it has it.
      if (step.value.type === "finish") keep();
      send(sse, events);
    }
  } catch (error) {
    const response = toErrorResponse(error, limits, "responses");
    // A 503 (a shutdown cutting the stream short) is expected, as in the app's error handler.
    if (response.status !== 503) request.log.error({ err: error }, "generation failed mid-stream");
    send(sse, builder.fail(response.body.error));
  }
  sse.end();
}

/**
 * `context_management` compaction: when the prompt passes the threshold (default: three quarters of the
 * context), every turn but the latest is summarized by the model into one compaction item, which stands for
 * them in the prompt and in what is stored.
 */
async function compactIfOver(
  provider: ModelProvider,
  req: ResponsesRequestBody,
  parsed: ParsedRequest,
  countTokens: TokenCounter | undefined,
  reply: FastifyReply,
): Promise<{ conversation: ChatMessage[]; encrypted: string; turns: number; tokens: number } | undefined> {
  const entry = req.context_management?.find((c) => c.type === "compaction");
  if (!entry || !countTokens || parsed.prompt.kind !== "chat") return undefined;
  const model = provider.resolveModel(parsed.model);
  const context = provider.listModels().find((m) => m.id === model)?.contextSize ?? 4096;
  const threshold = entry.compact_threshold ?? Math.floor(context * 0.75);
  const before = await countTokens(parsed.prompt);
  if (before <= threshold) return undefined;
  const split = splitTurns(parsed.prompt.messages);
  if (split.turns.length === 0) return undefined;
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort(new Error("client disconnected"));
  });
  const { summary } = await summarize(provider, model, split.turns.flat(), controller.signal);
  const summaryTurn: ChatMessage = { role: "user", content: summaryMessage(summary) };
  const messages = [...split.head, summaryTurn, ...split.tail];
  parsed.prompt = { ...parsed.prompt, messages };
  const after = await countTokens(parsed.prompt);
  // What is stored for the next turn leaves the instructions out, as ever (OpenAI does not carry them).
  const head = req.instructions ? split.head.slice(1) : split.head;
  return {
    conversation: [...head, summaryTurn, ...split.tail],
    encrypted: encodeCompaction(summary),
    turns: split.turns.length,
    tokens: before - after,
  };
}

/**
 * The request's `conversation`: its items so far (read before the input), and the input as the items to add
 * after the answer. Unknown, deleted and other keys' conversations are a 404.
 */
function openConversation(
  conversations: SqliteConversationStore | undefined,
  req: ResponsesRequestBody,
  owner: string | null,
): { id: string; items: unknown[]; input: ConversationItemRecord[] } {
  const asked = req.conversation as string | { id: string };
  const id = typeof asked === "string" ? asked : asked.id;
  const record = conversations?.get(id);
  if (!conversations || !record || record.owner !== owner)
    throw new ConversationNotFoundError("conversation", id, "conversation");
  const items = conversations.items(id, { order: "asc", limit: record.items + 1 })?.items ?? [];
  const input =
    typeof req.input === "string"
      ? [toConversationItem({ type: "message", role: "user", content: req.input })]
      : (req.input ?? []).filter((i) => i.type !== "item_reference").map(toConversationItem);
  return { id, items: items.map((i) => i.body), input };
}

/** The answer's message and function-call items, as a conversation keeps them. */
function conversationOutput(builder: ResponseEventBuilder): ConversationItemRecord[] {
  return builder
    .response()
    .output.filter((item) => ["message", "function_call", "compaction"].includes(item.type))
    .map((item) => {
      const body = item as unknown as ConversationItemRecord["body"];
      return { id: body.id, body };
    });
}

/**
 * What a request builds on from stored responses, its key's only: `previous_response_id`'s conversation (a 400
 * naming it when unknown) and the lookup of `item_reference`s.
 */
export function storedHistory(
  store: ResponseStore,
  req: ResponsesRequestBody,
  request: FastifyRequest,
): Pick<ResponsesHistory, "previous" | "item"> {
  let previous: ChatMessage[] | undefined;
  if (req.previous_response_id != null) {
    previous = storedFor(store, req.previous_response_id, request)?.conversation;
    if (!previous) throw new ResponseNotFoundError(req.previous_response_id, "previous_response_id");
  }
  const owner = ownerOf(request);
  const item = (id: string) => {
    const found = store.item(id);
    return found?.owner === owner ? found.message : undefined;
  };
  return { previous, item };
}

/**
 * A stored response, if the request's key made it: with keys set, one client cannot read or build on
 * another's responses even knowing an id.
 */
export function storedFor(
  store: ResponseStore,
  id: string,
  request: FastifyRequest,
): StoredResponse | undefined {
  const stored = store.get(id);
  return stored && stored.owner === ownerOf(request) ? stored : undefined;
}

function send(sse: SseWriter, events: readonly ResponseStreamEvent[]): void {
  for (const event of events) sse.event(event.type, event);
}

/**
 * The `file_search` tool taken out of a Responses body (the rest is translated as usual): its search, whether
 * `include` asks for its results, and the tool as the Response repeats it. `tool_choice: {type: "file_search"}`
 * is what happens anyway (the search runs before every answer), so it is taken out too.
 */
function takeFileSearch(body: ResponsesRequestBody): {
  req: ResponsesRequestBody;
  fileSearch?: { spec: FileSearchSpec; index: number; includeResults: boolean; echo: FileSearchTool };
} {
  const tools = body.tools ?? [];
  const index = tools.findIndex((t) => t.type === "file_search");
  if (index < 0) return { req: body };
  if (tools.findIndex((t, i) => i > index && t.type === "file_search") >= 0)
    throw new InvalidRequestError("Only one file_search tool may be given.", `tools[${index}]`);
  const spec = parseFileSearch(tools[index], `tools[${index}]`);
  const choice = body.tool_choice;
  const forced = typeof choice === "object" && choice !== null && choice.type === "file_search";
  const req = {
    ...body,
    tools: tools.filter((_, i) => i !== index),
    ...(forced && { tool_choice: undefined }),
  };
  const echo: FileSearchTool = {
    type: "file_search",
    vector_store_ids: spec.vector_store_ids,
    ...(spec.max_num_results !== undefined && { max_num_results: spec.max_num_results }),
    ...(spec.filters && { filters: spec.filters as FileSearchTool["filters"] }),
    ...(spec.ranking_options && {
      ranking_options: spec.ranking_options as FileSearchTool["ranking_options"],
    }),
  };
  return {
    req,
    fileSearch: {
      spec,
      index,
      includeResults: (body.include ?? []).includes("file_search_call.results"),
      echo,
    },
  };
}

function messagesOf(parsed: ParsedRequest): ChatMessage[] {
  return parsed.prompt.kind === "chat"
    ? parsed.prompt.messages
    : [{ role: "user", content: String(parsed.prompt.text ?? "") }];
}

function toFileSearchResult(p: Passage): ResponseFileSearchToolCall.Result {
  return {
    file_id: p.hit.chunk.fileId,
    filename: p.hit.filename ?? "",
    score: Math.round(p.hit.score * 10_000) / 10_000,
    text: p.hit.chunk.text,
    attributes: p.hit.attributes ?? {},
  };
}
