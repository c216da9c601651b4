import { clip, InvalidRequestError } from "../provider/errors.js";
import type { ResponseFormat, ToolChoice, ToolDefinition } from "../provider/types.js";
import type { ChatRequestBody, ResponseFormatBody } from "./request-schemas.js";

/**
 * Server side, inward: OpenAI's structured-output and tool-calling request fields to our types. The
 * schemas inside them are bounded (depth, size) by api/ before they get here.
 */

export function fromResponseFormat(body: ResponseFormatBody | null | undefined): ResponseFormat | undefined {
  if (!body || body.type === "text") return undefined;
  if (body.type === "json_object") return { kind: "json" };
  return { kind: "json_schema", name: body.json_schema.name, schema: body.json_schema.schema ?? true };
}

export interface ToolRequest {
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
}

export function fromToolRequest(req: ChatRequestBody): ToolRequest {
  const tools = (req.tools ?? []).map(
    (t): ToolDefinition => ({
      name: t.function.name,
      description: t.function.description,
      parameters: t.function.parameters,
    }),
  );
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
