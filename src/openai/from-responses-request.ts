import type { FunctionTool, Response } from "openai/resources/responses/responses";
import { clip, InvalidRequestError, ResponseNotFoundError } from "../provider/errors.js";
import type { ChatMessage, ResponseFormat, ToolChoice, ToolDefinition } from "../provider/types.js";
import { fromSampling, type ParsedRequest } from "./from-request.js";
import type { ResponsesInputItem, ResponsesRequestBody } from "./responses-schema.js";
import type { ResponseEcho } from "./to-responses.js";

/**
 * Server side, inward, for `/v1/responses`: a validated Responses body to the same ParsedRequest chat
 * completions produce. Input items become our messages (a `function_call` an assistant turn's tool call,
 * a `function_call_output` a tool message), `instructions` a leading system message, `text.format` the
 * structured-output format, function tools and `tool_choice` the chat ones. What the body asks for and
 * this server cannot do is refused here, by name.
 */

/** A Responses request translated, with what its Response repeats and what is kept of it. */
export interface ParsedResponsesRequest {
  parsed: ParsedRequest;
  /** The conversation so far without the instructions (OpenAI does not carry them to the next turn). */
  conversation: ChatMessage[];
  echo: ResponseEcho;
}

/** What the translation needs from stored responses; the route looks them up. */
export interface ResponsesHistory {
  /** The conversation of `previous_response_id`, its own answer included. */
  previous?: readonly ChatMessage[];
  /** An output item of a stored response, for an `item_reference`. */
  item?: (id: string) => ChatMessage | undefined;
}

/** OpenAI's built-in tools: each named in its refusal. */
const BUILT_IN_TOOLS =
  "web_search, web_search_preview, file_search, code_interpreter, computer_use_preview, image_generation, mcp, local_shell, shell, apply_patch, custom";

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
  const conversation = [...(history.previous ?? []), ...input];
  if (conversation.length === 0)
    throw new InvalidRequestError("Invalid value for 'input': must not be an empty list.", "input");
  const instructions = req.instructions ?? null;
  const messages: ChatMessage[] = instructions
    ? [{ role: "system", content: instructions }, ...conversation]
    : conversation;
  const { tools, toolChoice } = fromTools(req);
  const format = fromTextFormat(req.text?.format);
  const parallel = req.parallel_tool_calls ?? undefined;
  return {
    parsed: {
      model: req.model,
      prompt: tools ? { kind: "chat", messages, tools } : { kind: "chat", messages },
      sampling: fromSampling(req, req.max_output_tokens ?? undefined),
      stream: req.stream === true,
      includeUsage: true,
      controls: { format, toolChoice, parallelToolCalls: parallel },
    },
    conversation,
    echo: {
      instructions,
      max_output_tokens: req.max_output_tokens ?? null,
      temperature: req.temperature ?? null,
      top_p: req.top_p ?? null,
      tools: (tools ?? []).map(
        (t): FunctionTool => ({
          type: "function",
          name: t.name,
          description: t.description ?? null,
          parameters: typeof t.parameters === "object" ? t.parameters : null,
          strict: null,
        }),
      ),
      tool_choice: toWireChoice(toolChoice),
      parallel_tool_calls: parallel ?? true,
      text: { format: req.text?.format ?? { type: "text" } },
      metadata: req.metadata ?? {},
      previous_response_id: req.previous_response_id ?? null,
      store: req.store !== false,
      ...(req.user !== undefined && { user: req.user }),
    },
  };
}

function refuseUnimplemented(req: ResponsesRequestBody): void {
  refuse(req.background === true, "background", "background responses are not supported: omit background.");
  refuse(
    (req.include ?? []).some((value) => value !== "file_search_call.results"),
    "include",
    "include supports only 'file_search_call.results': edgellm has no other extra output data (logprobs, sources, encrypted reasoning) to add.",
  );
  refuse(
    req.truncation === "auto",
    "truncation",
    "truncation 'auto' is not supported: edgellm never drops input; an input too long for the context is refused.",
  );
  const reasoning = req.reasoning ?? {};
  for (const key of Object.keys(reasoning)) {
    refuse(
      reasoning[key] != null,
      `reasoning.${key}`,
      `reasoning.${clip(key)} is not supported: the model served here does not reason separately.`,
    );
  }
  refuse((req.top_logprobs ?? 0) > 0, "top_logprobs", "top_logprobs is not supported on /v1/responses yet.");
  refuse(
    req.conversation != null,
    "conversation",
    "conversation objects are not supported: use previous_response_id.",
  );
  refuse(req.prompt != null, "prompt", "prompt templates are not supported: send input and instructions.");
  refuse(req.max_tool_calls != null, "max_tool_calls", "max_tool_calls is not supported.");
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
        const call = { id: item.call_id, name: item.name, arguments: item.arguments };
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

function fromTools(req: ResponsesRequestBody): { tools?: ToolDefinition[]; toolChoice?: ToolChoice } {
  const tools: ToolDefinition[] = [];
  const names = new Set<string>();
  (req.tools ?? []).forEach((tool, i) => {
    if (tool.type !== "function" || !("name" in tool) || typeof tool.name !== "string")
      throw new InvalidRequestError(
        `The tool type '${clip(tool.type)}' is not supported: edgellm has no built-in tools (${BUILT_IN_TOOLS}); only function tools are supported.`,
        `tools[${i}].type`,
        "unsupported_tool",
      );
    if (names.has(tool.name))
      throw new InvalidRequestError(`Duplicate tool name '${clip(tool.name)}'.`, `tools[${i}].name`);
    names.add(tool.name);
    const parameters = "parameters" in tool ? tool.parameters : undefined;
    const description = "description" in tool ? tool.description : undefined;
    tools.push({
      name: tool.name,
      ...(typeof description === "string" && { description }),
      ...(parameters != null && { parameters: parameters as ToolDefinition["parameters"] }),
    });
  });
  const choice = req.tool_choice ?? undefined;
  let toolChoice: ToolChoice | undefined;
  if (choice === undefined || typeof choice === "string") toolChoice = choice;
  else if (choice.type === "function" && typeof choice.name === "string") toolChoice = { name: choice.name };
  else {
    // allowed_tools restricts function tools, which could be supported; any other type is a built-in tool.
    const allowedTools = choice.type === "allowed_tools";
    throw new InvalidRequestError(
      `tool_choice of type '${clip(String(choice.type))}' is not supported: use "auto", "none", "required" or {"type": "function", "name": ...}.`,
      "tool_choice.type",
      allowedTools ? "unsupported_parameter" : "unsupported_tool",
    );
  }
  if (tools.length === 0) {
    if (toolChoice === "required" || typeof toolChoice === "object")
      throw new InvalidRequestError(
        "tool_choice asks for a tool call, but no tools were given.",
        "tool_choice",
      );
    return { toolChoice: toolChoice === "none" ? undefined : toolChoice };
  }
  if (typeof toolChoice === "object" && !names.has(toolChoice.name))
    throw new InvalidRequestError(
      `tool_choice names '${clip(toolChoice.name)}', which is not one of the tools.`,
      "tool_choice.name",
    );
  return { tools, toolChoice };
}

function toWireChoice(choice: ToolChoice | undefined): Response["tool_choice"] {
  if (choice === undefined) return "auto";
  return typeof choice === "string" ? choice : { type: "function", name: choice.name };
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
