import { isJson } from "../engine/tool-calls.js";
import { clip, InvalidRequestError } from "../provider/errors.js";
import type {
  FinishReason,
  ResponseFormat,
  TokenLogprob,
  ToolCall,
  ToolChoice,
  ToolDefinition,
} from "../provider/types.js";
import { checkSchemaShape } from "../structured/limits.js";
import type { ChatRequestBody, ResponseFormatBody } from "./schemas.js";

/**
 * OpenAI's structured-output, tool-calling and logprobs fields <-> internal types, as pure functions.
 */

export function toResponseFormat(body: ResponseFormatBody | null | undefined): ResponseFormat | undefined {
  if (!body || body.type === "text") return undefined;
  if (body.type === "json_object") return { kind: "json" };
  // Before anything recursive (a cache key, ajv, the grammar) meets a schema nested thousands deep.
  checkSchemaShape(body.json_schema.schema, "format.schema");
  return { kind: "json_schema", name: body.json_schema.name, schema: body.json_schema.schema ?? true };
}

export interface ToolRequest {
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
}

export function toToolRequest(req: ChatRequestBody): ToolRequest {
  const tools = (req.tools ?? []).map((t, i): ToolDefinition => {
    checkSchemaShape(t.function.parameters, `tools.${i}.parameters`);
    return { name: t.function.name, description: t.function.description, parameters: t.function.parameters };
  });
  const choice = req.tool_choice ?? undefined;
  const toolChoice: ToolChoice | undefined =
    choice === undefined || typeof choice === "string" ? choice : { name: choice.function.name };
  if (tools.length === 0) {
    if (toolChoice === "required" || typeof toolChoice === "object") {
      throw new InvalidRequestError(
        "tool_choice asks for a tool call, but no tools were given.",
        "tool_choice",
        "invalid_value",
      );
    }
    return {};
  }
  const names = new Set<string>();
  tools.forEach((tool, i) => {
    if (names.has(tool.name))
      throw new InvalidRequestError(`Duplicate tool name '${clip(tool.name)}'.`, `tools[${i}].function.name`);
    names.add(tool.name);
  });
  if (typeof toolChoice === "object" && !names.has(toolChoice.name)) {
    throw new InvalidRequestError(
      `tool_choice names '${clip(toolChoice.name)}', which is not one of the tools.`,
      "tool_choice.function.name",
    );
  }
  return { tools, toolChoice, parallelToolCalls: req.parallel_tool_calls ?? undefined };
}

/**
 * The calls of a whole (non-streaming) answer, without a last call that generation stopped inside
 * (max_tokens): its arguments are not JSON yet and no client could run it. finish_reason tells why.
 */
export function completeCalls(calls: readonly ToolCall[], finishReason: FinishReason): readonly ToolCall[] {
  const last = calls.at(-1);
  if (!last || finishReason === "tool_calls" || isJson(last.arguments)) return calls;
  return calls.slice(0, -1);
}

/** OpenAI `message.tool_calls`. */
export function toToolCalls(calls: readonly ToolCall[]) {
  return calls.map((call) => ({
    id: call.id,
    type: "function" as const,
    function: { name: call.name, arguments: call.arguments },
  }));
}

/** One streamed fragment of a call: the first carries id, type and name; later ones arguments only. */
export function toToolCallDelta(part: { index: number; id?: string; name?: string; argumentsDelta: string }) {
  return part.id !== undefined
    ? {
        index: part.index,
        id: part.id,
        type: "function" as const,
        function: { name: part.name ?? "", arguments: part.argumentsDelta },
      }
    : { index: part.index, function: { arguments: part.argumentsDelta } };
}

/** OpenAI `choices[].logprobs`. */
export function toLogprobs(logprobs: readonly TokenLogprob[]) {
  return {
    content: logprobs.map((l) => ({
      token: l.token,
      logprob: l.logprob,
      bytes: l.bytes,
      top_logprobs: l.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes })),
    })),
    refusal: null,
  };
}
