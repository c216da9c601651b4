import { clip, InvalidRequestError, ResponseNotFoundError } from "../provider/errors.js";
import type { ChatMessage, ResponseFormat } from "../provider/types.js";
import { decodeCompaction, summaryMessage } from "./compaction.js";
import { fromSampling, type ParsedRequest } from "./from-request.js";
import { flatToolName, fromResponsesTools } from "./from-responses-tools.js";
import {
  type ResponsesInputItem,
  type ResponsesRequestBody,
  responsesInputItemSchema,
} from "./responses-schema.js";
import type { ResponseEcho } from "./to-responses.js";

/**
 * Server side, inward, for `/v1/responses`: a validated Responses body to the same ParsedRequest chat
 * completions produce. Input items become our messages (a `function_call` an assistant turn's tool call,
 * a `function_call_output` a tool message), `instructions` a leading system message, `text.format` the
 * structured-output format, function tools and `tool_choice` the chat ones (from-responses-tools.ts).
 * What the body asks for and this server cannot do is refused here, by name; what it only offers or hints
 * (a built-in tool, `reasoning`, an `include` with nothing to include) is accepted.
 */

/** A Responses request translated, with what its Response repeats and what is kept of it. */
export interface ParsedResponsesRequest {
  parsed: ParsedRequest;
  /** The conversation so far without the instructions (OpenAI does not carry them to the next turn). */
  conversation: ChatMessage[];
  echo: ResponseEcho;
  /** Built-in tool types offered and left out of what the model sees. */
  ignoredTools: string[];
  /** A flat tool name the model calls, for each function of a `namespace` tool: its namespace and name. */
  namespaced: Map<string, { namespace: string; name: string }>;
}

/** What the translation needs from stored responses; the route looks them up. */
export interface ResponsesHistory {
  /** The conversation of `previous_response_id`, its own answer included. */
  previous?: readonly ChatMessage[];
  /** An output item of a stored response, for an `item_reference`. */
  item?: (id: string) => ChatMessage | undefined;
  /** The items of the request's `conversation` so far, oldest first. */
  conversationItems?: readonly unknown[];
}

export function fromResponsesRequest(
  req: ResponsesRequestBody,
  history: ResponsesHistory = {},
): ParsedResponsesRequest {
  refuseUnimplemented(req);
  if (req.input === undefined)
    throw new InvalidRequestError(
      "Missing required parameter: 'input'.",
      "input",
      "missing_required_parameter",
    );
  const input: ChatMessage[] =
    typeof req.input === "string"
      ? [{ role: "user", content: req.input }]
      : fromItems(req.input, history.item ?? (() => undefined));
  const earlier = history.conversationItems
    ? fromItems(
        history.conversationItems.map((item, i) => parseStoredItem(item, i)),
        history.item ?? (() => undefined),
      )
    : [];
  const conversation = [...(history.previous ?? []), ...earlier, ...input];
  if (conversation.length === 0)
    throw new InvalidRequestError("Invalid value for 'input': must not be an empty list.", "input");
  const instructions = req.instructions ?? null;
  const messages: ChatMessage[] = instructions
    ? [{ role: "system", content: instructions }, ...conversation]
    : conversation;
  const { tools, toolChoice, echo: echoTools, echoChoice, ignored, namespaced } = fromResponsesTools(req);
  const format = fromTextFormat(req.text?.format);
  const parallel = req.parallel_tool_calls ?? undefined;
  const logprobs = logprobsOf(req);
  return {
    parsed: {
      model: req.model,
      prompt: tools ? { kind: "chat", messages, tools } : { kind: "chat", messages },
      sampling: fromSampling(req, req.max_output_tokens ?? undefined),
      stream: req.stream === true,
      includeUsage: true,
      controls: {
        format,
        toolChoice,
        parallelToolCalls: parallel,
        ...(logprobs && { logprobs }),
        // `auto` drops the oldest turns of a chat too long for the context; `disabled` refuses it; neither
        // leaves it to the server's --context-overflow.
        ...(req.truncation && { contextOverflow: req.truncation === "auto" ? "truncate" : "error" }),
      },
    },
    conversation,
    echo: {
      instructions,
      max_output_tokens: req.max_output_tokens ?? null,
      temperature: req.temperature ?? null,
      top_p: req.top_p ?? null,
      tools: echoTools,
      tool_choice: echoChoice,
      parallel_tool_calls: parallel ?? true,
      text: { format: req.text?.format ?? { type: "text" } },
      metadata: req.metadata ?? {},
      previous_response_id: req.previous_response_id ?? null,
      store: req.store !== false,
      truncation: req.truncation ?? "disabled",
      ...(req.conversation != null && {
        conversation: { id: typeof req.conversation === "string" ? req.conversation : req.conversation.id },
      }),
      ...(req.user !== undefined && { user: req.user }),
      ...(logprobs && { top_logprobs: logprobs.top }),
    },
    ignoredTools: ignored,
    namespaced,
  };
}

/**
 * Token logprobs, when `include` asks for them (`message.output_text.logprobs`) or `top_logprobs` asks for
 * alternatives. The other `include` values name output this server never makes (reasoning items, web search
 * sources, images, code interpreter outputs), so there is nothing of theirs to add; file_search_call.results
 * is the route's (the knowledge base).
 */
function logprobsOf(req: ResponsesRequestBody): { top: number } | undefined {
  const top = req.top_logprobs ?? 0;
  const asked = (req.include ?? []).includes("message.output_text.logprobs");
  return asked || top > 0 ? { top } : undefined;
}

function refuseUnimplemented(req: ResponsesRequestBody): void {
  refuse(req.background === true, "background", "background responses are not supported: omit background.");
  refuse(
    req.conversation != null && req.previous_response_id != null,
    "conversation",
    "conversation and previous_response_id cannot both be given: a conversation holds its own history.",
  );
  refuse(req.prompt != null, "prompt", "prompt templates are not supported: send input and instructions.");
  refuse(req.max_tool_calls != null, "max_tool_calls", "max_tool_calls is not supported.");
}

/** A conversation's stored item as an input item (its `status` and other output fields are not read). */
function parseStoredItem(item: unknown, i: number): ResponsesInputItem {
  const parsed = responsesInputItemSchema.safeParse(item);
  if (!parsed.success)
    throw new InvalidRequestError(
      `The conversation's item ${i} cannot be read back as input.`,
      "conversation",
    );
  return parsed.data;
}

function fromItems(items: readonly ResponsesInputItem[], lookup: (id: string) => ChatMessage | undefined) {
  const messages: ChatMessage[] = [];
  items.forEach((item, i) => {
    const param = `input[${i}]`;
    const last = messages.at(-1);
    switch (item.type) {
      case "message": {
        const { role, content } = item;
        messages.push({ role: role === "developer" ? "system" : role, content: joinText(content, param) });
        return;
      }
      case "function_call": {
        // A namespaced call is the flat name the model was offered (from-responses-tools.ts).
        const name = item.namespace ? flatToolName(item.namespace, item.name) : item.name;
        const call = { id: item.call_id, name, arguments: item.arguments };
        // Calls that follow an assistant turn are that turn's, as in a chat message's tool_calls.
        if (last?.role === "assistant") last.toolCalls = [...(last.toolCalls ?? []), call];
        else messages.push({ role: "assistant", content: "", toolCalls: [call] });
        return;
      }
      case "function_call_output": {
        const o = item as Extract<ResponsesInputItem, { type: "function_call_output" }>;
        messages.push({
          role: "tool",
          content: joinText(o.output, `${param}.output`),
          toolCallId: o.call_id,
        });
        return;
      }
      case "compaction": {
        const summary = decodeCompaction(item.encrypted_content, `${param}.encrypted_content`);
        // The summary stands for the conversation before it: of that, only the user's messages stay (as in
        // the list /v1/responses/compact returns), the answers and tool calls go.
        const kept = messages.filter((m) => m.role === "user" || m.role === "system");
        messages.length = 0;
        messages.push(...kept, { role: "user", content: summaryMessage(summary) });
        return;
      }
      case "item_reference": {
        const { id } = item;
        const found = lookup(id);
        if (!found) throw new ResponseNotFoundError(id, `${param}.id`, "item");
        if (found.toolCalls && last?.role === "assistant")
          last.toolCalls = [...(last.toolCalls ?? []), ...found.toolCalls];
        else messages.push(structuredClone(found));
        return;
      }
    }
  });
  return messages;
}

function joinText(content: string | readonly { type: string; text?: string }[], param: string): string {
  if (typeof content === "string") return content;
  return content
    .map((part, j) => {
      const where = `${param}.content[${j}]`;
      if (!["input_text", "output_text", "text"].includes(part.type))
        throw new InvalidRequestError(
          `Invalid value for '${where}.type': only text parts are supported; this model cannot read '${clip(part.type)}' parts.`,
          `${where}.type`,
        );
      if (typeof part.text !== "string")
        throw new InvalidRequestError(
          `Missing required parameter: '${where}.text'.`,
          `${where}.text`,
          "missing_required_parameter",
        );
      return part.text;
    })
    .join("\n");
}

function fromTextFormat(
  format: NonNullable<ResponsesRequestBody["text"]>["format"],
): ResponseFormat | undefined {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { kind: "json" };
  return { kind: "json_schema", name: format.name, schema: format.schema };
}

function refuse(condition: boolean, param: string, message: string): void {
  if (condition) throw new InvalidRequestError(message, param, "unsupported_parameter");
}
