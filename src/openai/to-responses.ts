import { randomBytes } from "node:crypto";
import type {
  Response,
  ResponseFileSearchToolCall,
  ResponseFunctionToolCall,
  ResponseOutputItem,
  ResponseOutputMessage,
  ResponseOutputText,
  ResponseStreamEvent,
  ResponseTextConfig,
  ResponseUsage,
  Tool,
} from "openai/resources/responses/responses";
import type {
  ChatMessage,
  FinishReason,
  StreamPart,
  TokenLogprob,
  ToolCall,
  Usage,
} from "../provider/types.js";
import { flatToolName } from "./from-responses-tools.js";
import { isJson } from "./to-response.js";

/**
 * Server side, outward, for `/v1/responses`: our stream parts to OpenAI's Responses event sequence and
 * `Response` object. One state machine serves both: a streamed answer sends its events, a whole one
 * sends the last snapshot, so the two cannot differ. The types are the `openai` package's own.
 *
 * Sequence: `response.created`, `response.in_progress`; per output item `response.output_item.added`,
 * for a message `response.content_part.added`, `response.output_text.delta`..., `.output_text.done`,
 * `response.content_part.done`, for a function call `response.function_call_arguments.delta`...,
 * `.done`; then `response.output_item.done`; last `response.completed`, or `response.incomplete` when
 * cut by `max_output_tokens`. An error after the start is an `error` event, then `response.failed`.
 */

/** What a Response repeats of its request (set by the translation of the request). */
export interface ResponseEcho {
  instructions: string | null;
  max_output_tokens: number | null;
  temperature: number | null;
  top_p: number | null;
  tools: Tool[];
  tool_choice: Response["tool_choice"];
  parallel_tool_calls: boolean;
  text: ResponseTextConfig;
  metadata: Record<string, string>;
  previous_response_id: string | null;
  store: boolean;
  /** Default "disabled". */
  truncation?: "auto" | "disabled";
  /** The conversation the response belongs to, when the request named one. */
  conversation?: { id: string };
  user?: string;
  /** Set when the request asked for token logprobs: how many alternatives each token lists. */
  top_logprobs?: number;
}

export interface ResponseHead {
  id: string;
  /** Unix seconds. */
  createdAt: number;
  model: string;
  echo: ResponseEcho;
  /**
   * The flat tool names the model calls for functions of `namespace` tools: their calls go out with the
   * namespace and the function's own name (from-responses-tools.ts).
   */
  namespaced?: ReadonlyMap<string, { namespace: string; name: string }>;
}

/** An error as the HTTP edge words it (api/errors.ts's body). */
export interface WireError {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/** A new id with OpenAI's prefix for its kind: `resp_`, `msg_`, `fc_`, `call_`. */
export function newItemId(prefix: "resp" | "msg" | "fc" | "fco" | "call" | "fs" | "cmp" | "conv"): string {
  return `${prefix}_${randomBytes(16).toString("hex")}`;
}

export function toResponsesUsage(usage: Usage): ResponseUsage {
  return {
    input_tokens: usage.promptTokens,
    // The prompt tokens evaluated now stay in the slot's KV cache for the next turn.
    input_tokens_details: {
      cached_tokens: usage.cachedTokens,
      cache_write_tokens: usage.promptTokens - usage.cachedTokens,
    },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}

type Status = "in_progress" | "completed" | "incomplete";
type Open = { kind: "message"; index: number } | { kind: "call"; index: number };

export class ResponseEventBuilder {
  private readonly output: ResponseOutputItem[] = [];
  /** Output index of tool call number i (the StreamPart's index). */
  private readonly calls = new Map<number, number>();
  private open: Open | undefined;
  private sequence = 0;
  private status: NonNullable<Response["status"]> = "in_progress";
  private usage: ResponseUsage | undefined;
  private error: Response["error"] = null;
  private completedAt: number | null = null;

  constructor(
    private readonly head: ResponseHead,
    /** Item ids; tests pass a counter so that fixtures are stable. */
    private readonly newId: (prefix: "msg" | "fc" | "call" | "fs") => string = newItemId,
    /** Unix seconds, for `completed_at`. */
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  start(): ResponseStreamEvent[] {
    return [
      this.event({ type: "response.created", response: this.response() }),
      this.event({ type: "response.in_progress", response: this.response() }),
    ];
  }

  push(part: StreamPart): ResponseStreamEvent[] {
    if (part.type === "text-delta") return part.text === "" ? [] : this.text(part.text, part.logprobs);
    if (part.type === "tool-call-delta") return this.callDelta(part);
    if (part.type === "finish") return this.finish(part.finishReason, part.usage);
    return [];
  }

  /**
   * A `file_search_call` item, done at once (the search ran before the answer began): its added, in
   * progress, searching, completed and done events. `results` are listed only when the request asked for
   * them (`include: ["file_search_call.results"]`); null otherwise, as OpenAI answers.
   */
  fileSearchCall(
    queries: string[],
    results: ResponseFileSearchToolCall.Result[] | null,
  ): ResponseStreamEvent[] {
    const events = this.close("completed");
    const index = this.output.length;
    const call: ResponseFileSearchToolCall = {
      id: this.newId("fs"),
      type: "file_search_call",
      status: "in_progress",
      queries,
      results: null,
    };
    this.output.push(call);
    const where = { item_id: call.id, output_index: index };
    events.push(
      this.event({ type: "response.output_item.added", output_index: index, item: structuredClone(call) }),
      this.event({ type: "response.file_search_call.in_progress", ...where }),
      this.event({ type: "response.file_search_call.searching", ...where }),
      this.event({ type: "response.file_search_call.completed", ...where }),
    );
    call.status = "completed";
    call.results = results;
    events.push(
      this.event({ type: "response.output_item.done", output_index: index, item: structuredClone(call) }),
    );
    return events;
  }

  /**
   * A `compaction` item, done at once (the earlier conversation was summarized before the answer began,
   * `context_management`): its added and done events.
   */
  compaction(encryptedContent: string): ResponseStreamEvent[] {
    const events = this.close("completed");
    const index = this.output.length;
    const item = { type: "compaction" as const, id: newItemId("cmp"), encrypted_content: encryptedContent };
    this.output.push(item as unknown as ResponseOutputItem);
    events.push(
      this.event({
        type: "response.output_item.added",
        output_index: index,
        item: structuredClone(item),
      } as never),
      this.event({
        type: "response.output_item.done",
        output_index: index,
        item: structuredClone(item),
      } as never),
    );
    return events;
  }

  /**
   * A citation of a file at the current end of the answer's text (a message is opened if none is), as an
   * annotation of its `output_text` and a `response.output_text.annotation.added` event.
   */
  annotate(citation: { file_id: string; filename: string }): ResponseStreamEvent[] {
    const events: ResponseStreamEvent[] =
      this.open?.kind === "message" ? [] : [...this.close("completed"), ...this.openMessage()];
    const index = (this.open as Open).index;
    const message = this.output[index] as ResponseOutputMessage;
    const part = message.content[0] as ResponseOutputText;
    const annotation = { type: "file_citation" as const, ...citation, index: part.text.length };
    part.annotations.push(annotation);
    events.push(
      this.event({
        type: "response.output_text.annotation.added",
        item_id: message.id,
        output_index: index,
        content_index: 0,
        annotation_index: part.annotations.length - 1,
        annotation,
      }),
    );
    return events;
  }

  /** Ends the response; `length` makes it `incomplete` (reason `max_output_tokens`). */
  finish(reason: FinishReason, usage: Usage): ResponseStreamEvent[] {
    const events: ResponseStreamEvent[] = [];
    // Clients look for a message: an answer with no text and no call still has an empty one.
    if (!this.output.some((item) => item.type !== "file_search_call")) events.push(...this.openMessage());
    const cut = reason === "length";
    events.push(...this.close(cut ? "incomplete" : "completed"));
    this.status = cut ? "incomplete" : "completed";
    this.usage = toResponsesUsage(usage);
    this.completedAt = this.now();
    const response = this.response();
    events.push(
      cut
        ? this.event({ type: "response.incomplete", response })
        : this.event({ type: "response.completed", response }),
    );
    return events;
  }

  /** An error after the stream began: an `error` event, then `response.failed`. */
  fail(error: WireError): ResponseStreamEvent[] {
    const events: ResponseStreamEvent[] = [
      this.event({ type: "error", code: error.code, message: error.message, param: error.param }),
    ];
    this.status = "failed";
    const rateLimited =
      error.type === "rate_limit_error" || error.type === "requests" || error.type === "tokens";
    this.error = { code: rateLimited ? "rate_limit_exceeded" : "server_error", message: error.message };
    events.push(this.event({ type: "response.failed", response: this.response() }));
    return events;
  }

  /** The response as it stands (a copy). */
  response(): Response {
    const { echo } = this.head;
    const output = structuredClone(this.output);
    return {
      id: this.head.id,
      object: "response",
      created_at: this.head.createdAt,
      status: this.status,
      ...(this.completedAt !== null && { completed_at: this.completedAt }),
      error: this.error,
      incomplete_details: this.status === "incomplete" ? { reason: "max_output_tokens" } : null,
      instructions: echo.instructions,
      max_output_tokens: echo.max_output_tokens,
      model: this.head.model,
      output,
      output_text: outputText(output),
      parallel_tool_calls: echo.parallel_tool_calls,
      previous_response_id: echo.previous_response_id,
      reasoning: { effort: null, summary: null },
      temperature: echo.temperature,
      text: echo.text,
      tool_choice: echo.tool_choice,
      tools: echo.tools,
      top_p: echo.top_p,
      truncation: echo.truncation ?? "disabled",
      ...(echo.conversation && { conversation: echo.conversation }),
      metadata: echo.metadata,
      ...(echo.user !== undefined && { user: echo.user }),
      ...(echo.top_logprobs !== undefined && { top_logprobs: echo.top_logprobs }),
      // Left out until the end: the spec declares an optional object (OpenAI's docs example shows null,
      // which the spec and the SDK's type both refuse).
      ...(this.usage && { usage: this.usage }),
    };
  }

  /**
   * The answer as our messages, for a later `previous_response_id`: one assistant turn with its text and
   * the calls that finished (a call cut by the token limit is no call a client could have run).
   */
  conversation(): ChatMessage[] {
    const text = outputText(this.output);
    const calls: ToolCall[] = [];
    for (const item of this.output) {
      if (item.type === "function_call" && item.status === "completed")
        calls.push({ id: item.call_id, name: modelName(item), arguments: item.arguments });
    }
    return [
      calls.length > 0
        ? { role: "assistant", content: text, toolCalls: calls }
        : { role: "assistant", content: text },
    ];
  }

  /** Each output item as the message it stands for, by item id, for `item_reference` input items. */
  items(): { id: string; message: ChatMessage }[] {
    return this.output.flatMap((item) => {
      if (item.type === "message")
        return [{ id: item.id, message: { role: "assistant" as const, content: messageText(item) } }];
      if (item.type === "function_call" && item.id !== undefined)
        return [
          {
            id: item.id,
            message: {
              role: "assistant" as const,
              content: "",
              toolCalls: [{ id: item.call_id, name: modelName(item), arguments: item.arguments }],
            },
          },
        ];
      return [];
    });
  }

  private text(delta: string, logprobs?: readonly TokenLogprob[]): ResponseStreamEvent[] {
    const events: ResponseStreamEvent[] = [];
    if (this.open?.kind !== "message") {
      events.push(...this.close("completed"), ...this.openMessage());
    }
    const index = (this.open as Open).index;
    const message = this.output[index] as ResponseOutputMessage;
    const part = message.content[0] as ResponseOutputText;
    part.text += delta;
    const tokens = (logprobs ?? []).map(toContentLogprob);
    part.logprobs?.push(...tokens);
    events.push(
      this.event({
        type: "response.output_text.delta",
        item_id: message.id,
        output_index: index,
        content_index: 0,
        delta,
        logprobs: tokens.map(toEventLogprob),
      }),
    );
    return events;
  }

  private callDelta(part: { index: number; id?: string; name?: string; argumentsDelta: string }) {
    const events: ResponseStreamEvent[] = [];
    let index = this.calls.get(part.index);
    if (index === undefined) {
      events.push(...this.close("completed"));
      index = this.output.length;
      const namespaced = part.name === undefined ? undefined : this.head.namespaced?.get(part.name);
      const call: ResponseFunctionToolCall = {
        id: this.newId("fc"),
        type: "function_call",
        status: "in_progress",
        call_id: part.id || this.newId("call"),
        ...(namespaced
          ? { namespace: namespaced.namespace, name: namespaced.name }
          : { name: part.name ?? "" }),
        arguments: "",
      };
      this.output.push(call);
      this.calls.set(part.index, index);
      this.open = { kind: "call", index };
      events.push(
        this.event({ type: "response.output_item.added", output_index: index, item: structuredClone(call) }),
      );
    }
    const call = this.output[index] as ResponseFunctionToolCall;
    if (part.argumentsDelta !== "") {
      call.arguments += part.argumentsDelta;
      events.push(
        this.event({
          type: "response.function_call_arguments.delta",
          item_id: call.id ?? "",
          output_index: index,
          delta: part.argumentsDelta,
        }),
      );
    }
    return events;
  }

  private openMessage(): ResponseStreamEvent[] {
    const index = this.output.length;
    const message: ResponseOutputMessage = {
      id: this.newId("msg"),
      type: "message",
      status: "in_progress",
      role: "assistant",
      content: [],
    };
    this.output.push(message);
    this.open = { kind: "message", index };
    const events: ResponseStreamEvent[] = [
      this.event({ type: "response.output_item.added", output_index: index, item: structuredClone(message) }),
    ];
    // OpenAI's spec requires `logprobs` on every output_text (an empty list unless asked for), and
    // Stainless-generated SDKs (Java, Kotlin) throw when it is missing.
    const part: ResponseOutputText = { type: "output_text", text: "", annotations: [], logprobs: [] };
    message.content.push(part);
    events.push(
      this.event({
        type: "response.content_part.added",
        item_id: message.id,
        output_index: index,
        content_index: 0,
        part: structuredClone(part),
      }),
    );
    return events;
  }

  /** Closes the open item, if any, with `status`. */
  private close(status: Exclude<Status, "in_progress">): ResponseStreamEvent[] {
    const open = this.open;
    if (!open) return [];
    this.open = undefined;
    const events: ResponseStreamEvent[] = [];
    const item = this.output[open.index];
    if (item.type === "message") {
      const part = item.content[0] as ResponseOutputText;
      const where = { item_id: item.id, output_index: open.index, content_index: 0 };
      events.push(
        this.event({
          type: "response.output_text.done",
          ...where,
          text: part.text,
          logprobs: (part.logprobs ?? []).map(toEventLogprob),
        }),
        this.event({ type: "response.content_part.done", ...where, part: structuredClone(part) }),
      );
      item.status = status;
    } else if (item.type === "function_call") {
      // As on chat completions (completeCalls), a call whose arguments are whole JSON is a call a client
      // can run, even if the token limit came before the model closed it.
      const whole = status === "completed" || isJson(item.arguments);
      events.push(
        this.event({
          type: "response.function_call_arguments.done",
          item_id: item.id ?? "",
          output_index: open.index,
          name: item.name,
          arguments: item.arguments,
        }),
      );
      item.status = whole ? "completed" : "incomplete";
    }
    events.push(
      this.event({
        type: "response.output_item.done",
        output_index: open.index,
        item: structuredClone(item),
      }),
    );
    return events;
  }

  private event<E extends DistributiveOmit<ResponseStreamEvent, "sequence_number">>(event: E) {
    return { ...event, sequence_number: this.sequence++ } as ResponseStreamEvent;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A call's name as the model called it: a namespaced function's flat name. */
function modelName(call: ResponseFunctionToolCall): string {
  return call.namespace ? flatToolName(call.namespace, call.name) : call.name;
}

function toContentLogprob(p: TokenLogprob): NonNullable<ResponseOutputText["logprobs"]>[number] {
  return {
    token: p.token,
    bytes: p.bytes,
    logprob: p.logprob,
    top_logprobs: p.top.map((t) => ({ token: t.token, bytes: t.bytes, logprob: t.logprob })),
  };
}

/** A token's logprob as the text events carry it (OpenAI's ResponseLogProb: no bytes). */
function toEventLogprob(p: NonNullable<ResponseOutputText["logprobs"]>[number]) {
  return {
    token: p.token,
    logprob: p.logprob,
    top_logprobs: p.top_logprobs.map((t) => ({ token: t.token, logprob: t.logprob })),
  };
}

function messageText(message: ResponseOutputMessage): string {
  return message.content.map((part) => (part.type === "output_text" ? part.text : "")).join("");
}

/** All the text of the output's messages, as the SDKs' `output_text` joins it. */
function outputText(output: readonly ResponseOutputItem[]): string {
  return output.map((item) => (item.type === "message" ? messageText(item) : "")).join("");
}
