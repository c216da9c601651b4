import { fromChatRequest, fromCompletionRequest, type ParsedRequest } from "../openai/from-request.js";
import { chatRequestSchema, completionRequestSchema } from "../openai/request-schemas.js";
import { type ResponsesRequestBody, responsesRequestSchema } from "../openai/responses-schema.js";
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

/**
 * A `/v1/responses` body, checked like the others; translated by the route, which first looks up the
 * stored responses it builds on.
 */
export function parseResponsesBody(body: unknown): ResponsesRequestBody {
  const req = validate(responsesRequestSchema, body);
  const format = req.text?.format;
  if (format?.type === "json_schema") checkSchemaShape(format.schema, "format.schema");
  for (const [i, t] of (req.tools ?? []).entries())
    if (t.type === "function" && "parameters" in t)
      checkSchemaShape(t.parameters ?? undefined, `tools.${i}.parameters`);
  return req;
}
