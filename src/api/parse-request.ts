import { fromChatRequest, fromCompletionRequest, type ParsedRequest } from "../openai/from-request.js";
import { chatRequestSchema, completionRequestSchema } from "../openai/request-schemas.js";
import { checkSchemaShape } from "../structured/limits.js";
import { validate } from "./validation.js";

/**
 * A request body checked at the edge, then translated by the codec: its schema (the first problem
 * reported by name), then the depth and size of every JSON Schema it carries, before anything
 * recursive (a cache key, ajv, the grammar) meets one nested thousands deep.
 */

export function parseChatRequest(body: unknown): ParsedRequest {
  const req = validate(chatRequestSchema, body);
  const format = req.response_format;
  if (format?.type === "json_schema") checkSchemaShape(format.json_schema.schema, "format.schema");
  for (const [i, t] of (req.tools ?? []).entries())
    checkSchemaShape(t.function.parameters, `tools.${i}.parameters`);
  return fromChatRequest(req);
}

export function parseCompletionRequest(body: unknown): ParsedRequest {
  const req = validate(completionRequestSchema, body);
  const format = req.response_format;
  if (format?.type === "json_schema") checkSchemaShape(format.json_schema.schema, "format.schema");
  return fromCompletionRequest(req);
}
