import type { ParsedRequest } from "../openai/from-request.js";
import { clip, InvalidRequestError } from "../provider/errors.js";
import {
  type ChatMessage,
  DEFAULT_SAMPLING,
  type Prompt,
  type ResponseFormat,
  type SamplingParams,
  type ToolChoice,
  type ToolDefinition,
} from "../provider/types.js";
import type {
  CountTokensRequestBody,
  MessageBody,
  MessagesRequestBody,
  ToolBody,
} from "./messages-schema.js";

/**
 * Server side, inward, for Anthropic's Messages API: a validated body to the same `ParsedRequest` chat
 * completions makes, so that the request goes through the same provider chain (router, caches, key limits,
 * grammar-forced tool calls). What it asks for and this server cannot do is refused here, by name.
 */

export interface MessagesRequest {
  parsed: ParsedRequest;
  /** Anthropic's own tools (`web_search_20250305`, ...) offered and left out, each type once, in order. */
  ignoredTools: string[];
}

/** Context-management edits that change nothing here: the model never thinks, so there is no thinking to clear. */
const NO_OP_EDITS = /^clear_thinking_/;

export function fromMessagesRequest(req: MessagesRequestBody): MessagesRequest {
  const { prompt, toolChoice, parallelToolCalls, ignoredTools, format } = fromPrompt(req);
  const stop = req.stop_sequences ?? [];
  const forced = toolChoice === "required" || typeof toolChoice === "object";
  refuse(
    stop.length > 0 && (forced || format !== undefined),
    "stop_sequences",
    "stop_sequences cannot be combined with tool_choice any or tool, or output_config.format: a stop sequence would cut the constrained JSON.",
  );
  const sampling: SamplingParams = {
    ...DEFAULT_SAMPLING,
    temperature: req.temperature ?? DEFAULT_SAMPLING.temperature,
    topP: req.top_p ?? DEFAULT_SAMPLING.topP,
    topK: req.top_k ?? DEFAULT_SAMPLING.topK,
    maxTokens: req.max_tokens,
    stop,
  };
  return {
    parsed: {
      model: req.model,
      prompt,
      sampling,
      stream: req.stream === true,
      includeUsage: false,
      controls: { format, toolChoice, parallelToolCalls },
    },
    ignoredTools,
  };
}

/** The prompt of a count_tokens body (or of a Messages body): system, messages and the tools offered. */
export function fromPrompt(req: CountTokensRequestBody): {
  prompt: Prompt;
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  ignoredTools: string[];
  format?: ResponseFormat;
} {
  refuse(
    req.thinking?.type === "enabled",
    "thinking",
    "thinking with a budget_tokens is not supported: the served model has no extended thinking. Send thinking {type: 'adaptive'} or {type: 'disabled'}, or leave it out.",
    "unsupported_parameter",
  );
  refuse(
    (req.mcp_servers?.length ?? 0) > 0,
    "mcp_servers",
    "mcp_servers is not supported: edgellm connects to no MCP server. Run the MCP client on your side and offer its tools as tools.",
    "unsupported_parameter",
  );
  for (const [i, edit] of (req.context_management?.edits ?? []).entries())
    refuse(
      !NO_OP_EDITS.test(edit.type),
      `context_management.edits[${i}].type`,
      `context_management edit '${clip(edit.type)}' is not supported: only clear_thinking edits (a no-op here) are accepted.`,
      "unsupported_parameter",
    );
  const messages: ChatMessage[] = [];
  const system = systemText(req.system);
  if (system !== undefined) messages.push({ role: "system", content: system });
  for (const [i, message] of req.messages.entries()) messages.push(...fromMessage(message, i));
  const last = req.messages[req.messages.length - 1];
  refuse(
    last.role === "assistant",
    `messages[${req.messages.length - 1}]`,
    "A final assistant turn (prefill) is not supported: the last message must be the user's.",
  );
  const { tools, toolChoice, parallelToolCalls, ignoredTools } = fromTools(req);
  const schema = req.output_config?.format?.schema;
  return {
    prompt: tools.length > 0 ? { kind: "chat", messages, tools } : { kind: "chat", messages },
    toolChoice,
    parallelToolCalls,
    ignoredTools,
    ...(schema && { format: { kind: "json_schema", name: "output", schema } }),
  };
}

function systemText(system: CountTokensRequestBody["system"]): string | undefined {
  if (system === undefined) return undefined;
  const text = typeof system === "string" ? system : system.map((b) => b.text).join("\n\n");
  return text === "" ? undefined : text;
}

/**
 * One Anthropic message as our chat messages: each `tool_result` block becomes a tool message, in place,
 * and the text around them a user message; an assistant's `tool_use` blocks become its tool calls.
 */
function fromMessage(message: MessageBody, index: number): ChatMessage[] {
  const { role } = message;
  const param = `messages[${index}]`;
  if (typeof message.content === "string") return [{ role, content: message.content }];
  const out: ChatMessage[] = [];
  let text: string[] = [];
  const flush = () => {
    if (text.length > 0) out.push({ role, content: text.join("\n") });
    text = [];
  };
  const calls: NonNullable<ChatMessage["toolCalls"]> = [];
  for (const [j, block] of message.content.entries()) {
    const where = `${param}.content[${j}]`;
    switch (block.type) {
      case "text":
        text.push(block.text);
        break;
      case "tool_use":
        refuse(role !== "assistant", where, "Only assistant messages carry tool_use blocks.");
        calls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input) });
        break;
      case "tool_result": {
        refuse(role !== "user", where, "Only user messages carry tool_result blocks.");
        flush();
        const content = toolResultText(block.content, where);
        // The chat template has no place for an error flag: the model reads it in the result itself.
        out.push({
          role: "tool",
          content: block.is_error ? `Error: ${content}` : content,
          toolCallId: block.tool_use_id,
        });
        break;
      }
      case "thinking":
      case "redacted_thinking":
        // Anthropic's API itself leaves earlier turns' thinking out of the context; this model never thinks.
        refuse(role !== "assistant", where, `Only assistant messages carry ${block.type} blocks.`);
        break;
      default:
        refuse(true, `${where}.type`, unreadable(block.type));
    }
  }
  if (calls.length > 0) out.push({ role: "assistant", content: text.join("\n"), toolCalls: calls });
  else if (role === "assistant" && out.length === 0) out.push({ role, content: text.join("\n") });
  else flush();
  return out;
}

function toolResultText(content: unknown, where: string): string {
  if (content === undefined) return "";
  if (typeof content === "string") return content;
  return (content as { type: string; text?: string }[])
    .map((block, k) => {
      refuse(block.type !== "text", `${where}.content[${k}].type`, unreadable(block.type));
      return block.text ?? "";
    })
    .join("\n");
}

function unreadable(type: string): string {
  return `'${clip(type)}' blocks are not supported: the served model reads text only (text, tool_use and tool_result blocks).`;
}

interface Tools {
  tools: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  ignoredTools: string[];
}

type ClientTool = Extract<ToolBody, { input_schema: unknown }>;

function isClientTool(tool: ToolBody): tool is ClientTool {
  return "input_schema" in tool && tool.input_schema !== undefined;
}

/**
 * Client tools (with an `input_schema`) are offered to the model. Anthropic's own tools (`web_search_…`,
 * `code_execution_…`, `bash_…`, ...) are an offer this server cannot take up: left out and named in
 * `ignoredTools`; only a tool_choice that forces one is refused, naming it.
 */
function fromTools(req: CountTokensRequestBody): Tools {
  const tools: ToolDefinition[] = [];
  const ignoredTools: string[] = [];
  const names = new Map<string, string>();
  for (const [i, tool] of (req.tools ?? []).entries()) {
    if (!isClientTool(tool)) {
      const type = String(tool.type);
      if (!ignoredTools.includes(type)) ignoredTools.push(type);
      names.set(tool.name, type);
      continue;
    }
    refuse(names.has(tool.name), `tools[${i}].name`, `Duplicate tool name '${clip(tool.name)}'.`);
    names.set(tool.name, "custom");
    tools.push({
      name: tool.name,
      ...(tool.description !== undefined && { description: tool.description }),
      parameters: tool.input_schema,
    });
  }
  const choice = req.tool_choice;
  if (!choice || choice.type === "auto")
    return {
      tools,
      ...(tools.length > 0 && { toolChoice: "auto" as const }),
      ...(choice?.disable_parallel_tool_use && { parallelToolCalls: false }),
      ignoredTools,
    };
  if (choice.type === "none") return { tools, toolChoice: "none", ignoredTools };
  const parallelToolCalls = choice.disable_parallel_tool_use ? false : undefined;
  if (choice.type === "tool") {
    const kind = names.get(choice.name);
    if (kind !== undefined && kind !== "custom")
      throw new InvalidRequestError(
        `tool_choice forces '${clip(choice.name)}' (${clip(kind)}), one of Anthropic's server tools, which edgellm does not have: only tools with an input_schema can be called.`,
        "tool_choice.name",
        "unsupported_tool",
      );
    refuse(
      kind === undefined,
      "tool_choice.name",
      `tool_choice names '${clip(choice.name)}', which is not one of the tools.`,
    );
    return { tools, toolChoice: { name: choice.name }, parallelToolCalls, ignoredTools };
  }
  // "any": at least one call, grammar-forced, among the client tools.
  if (tools.length === 0) {
    if (ignoredTools.length > 0)
      throw new InvalidRequestError(
        `tool_choice any forces a call, but the only tools are Anthropic's server tools (${ignoredTools.map((t) => `'${clip(t)}'`).join(", ")}), which edgellm does not have.`,
        "tool_choice",
        "unsupported_tool",
      );
    refuse(true, "tool_choice", "tool_choice any asks for a tool call, but no tools were given.");
  }
  return { tools, toolChoice: "required", parallelToolCalls, ignoredTools };
}

function refuse(
  condition: boolean,
  param: string,
  message: string,
  code: "invalid_value" | "unsupported_parameter" = "invalid_value",
): void {
  if (condition) throw new InvalidRequestError(message, param, code);
}
