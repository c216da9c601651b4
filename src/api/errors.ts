import { toAnthropicError } from "../anthropic/to-error.js";
import {
  BadHttpRequestError,
  clip,
  EdgeError,
  InternalError,
  InvalidApiKeyError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  QueueFullError,
  RateLimitExceededError,
  UpstreamError,
} from "../provider/errors.js";
import type { FieldPath } from "../provider/fields.js";

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: { message: string; type: string; param: string | null; code: string | null } };
}

/** A message or param longer than this is cut: each should quote client input through clip() already. */
const MAX_MESSAGE_LENGTH = 1000;
const MAX_PARAM_LENGTH = 200;

/**
 * Which API a request came to: each names the prompt (and Responses the other fields) differently, and
 * "messages" (Anthropic's) answers errors in its own shape.
 */
export type Endpoint = "chat" | "completions" | "responses" | "messages";

/** The endpoint of a route, by its URL pattern; any route but /v1/completions, /v1/responses and /v1/messages counts as chat. */
export function endpointOf(routeUrl: string | undefined): Endpoint {
  if (routeUrl !== undefined && /^(\/v1)?\/responses(\/|$)/.test(routeUrl)) return "responses";
  if (routeUrl !== undefined && /^(\/v1)?\/messages(\/|$)/.test(routeUrl)) return "messages";
  return routeUrl !== undefined && /^(\/v1)?\/completions$/.test(routeUrl) ? "completions" : "chat";
}

const SCHEMA = "format.schema";

/**
 * The wire parameter for one of our fields (provider/fields.ts). Of a place inside a schema, the part
 * that names the schema is translated and the path inside it kept.
 */
export function paramOf(field: FieldPath, endpoint: Endpoint): string {
  if (endpoint === "responses") return responsesParamOf(field);
  if (endpoint === "messages") return messagesParamOf(field);
  if (field === "prompt") return endpoint === "chat" ? "messages" : "prompt";
  if (field === "maxTokens") return "max_tokens";
  if (field === "logitBias") return "logit_bias";
  if (field === SCHEMA || field.startsWith(`${SCHEMA}.`))
    return `response_format.json_schema.schema${field.slice(SCHEMA.length)}`;
  const tool = /^tools\.(\d+)\.parameters(?=$|\.)/.exec(field);
  if (tool) return `tools[${tool[1]}].function.parameters${field.slice(tool[0].length)}`;
  // "model" and "tools" are the wire's names too.
  return field;
}

/** /v1/responses names the fields `input`, `max_output_tokens`, `text.format.schema`, `tools[i].parameters`. */
function responsesParamOf(field: FieldPath): string {
  if (field === "prompt") return "input";
  if (field === "maxTokens") return "max_output_tokens";
  if (field === SCHEMA || field.startsWith(`${SCHEMA}.`))
    return `text.format.schema${field.slice(SCHEMA.length)}`;
  const tool = /^tools\.(\d+)\.parameters(?=$|\.)/.exec(field);
  if (tool) return `tools[${tool[1]}].parameters${field.slice(tool[0].length)}`;
  return field;
}

/** Anthropic's Messages API names the tools' schemas `tools[i].input_schema`, the answer's `output_config.format.schema`. */
function messagesParamOf(field: FieldPath): string {
  if (field === "prompt") return "messages";
  if (field === "maxTokens") return "max_tokens";
  if (field === SCHEMA || field.startsWith(`${SCHEMA}.`))
    return `output_config.format.schema${field.slice(SCHEMA.length)}`;
  const tool = /^tools\.(\d+)\.parameters(?=$|\.)/.exec(field);
  if (tool) return `tools[${tool[1]}].input_schema${field.slice(tool[0].length)}`;
  return field;
}

/**
 * The response for any thrown value in the shape of the endpoint's API: Anthropic's
 * `{"type":"error","error":{type,message}}` and statuses on /v1/messages, OpenAI's everywhere else.
 */
export function toWireErrorResponse(
  error: unknown,
  limits: { bodyLimit: number },
  endpoint: Endpoint,
): { status: number; headers: Record<string, string>; body: unknown } {
  const response = toErrorResponse(error, limits, endpoint);
  if (endpoint !== "messages") return response;
  // Anthropic's errors have no `param`: the field at fault is named in the message, where it is not already.
  const { message, code, param } = response.body.error;
  const named = param === null || message.includes(param) ? message : `${param}: ${message}`;
  return { ...toAnthropicError(response.status, code, named), headers: response.headers };
}

/** The one place where any thrown value becomes an OpenAI-style error response. */
export function toErrorResponse(
  error: unknown,
  limits: { bodyLimit: number },
  endpoint: Endpoint = "chat",
): ErrorResponse {
  const edge = toEdgeError(error, limits);
  const name = (field: FieldPath) => paramOf(field, endpoint);
  let message = edge.wording ? edge.wording(name) : edge.message;
  if (edge.code === "model_not_found") message += " GET /v1/models lists the models.";
  const param = edge.param ?? (edge.field === null ? null : name(edge.field));
  const headers: Record<string, string> = {};
  if (edge instanceof QueueFullError || edge instanceof RateLimitExceededError)
    headers["retry-after"] = String(edge.retryAfterSeconds);
  if (edge instanceof UpstreamError && edge.retryAfterSeconds !== undefined)
    headers["retry-after"] = String(edge.retryAfterSeconds);
  if (edge instanceof InvalidApiKeyError) headers["www-authenticate"] = 'Bearer realm="edgellm"';
  if (edge.status === 503) headers["retry-after"] = "1";
  if (edge instanceof MethodNotAllowedError) headers.allow = edge.allowed.join(", ");
  return {
    status: edge.status,
    headers,
    body: {
      error: {
        message: clip(message, MAX_MESSAGE_LENGTH),
        type: edge.type,
        param: param === null ? null : clip(param, MAX_PARAM_LENGTH),
        code: edge.code,
      },
    },
  };
}

function toEdgeError(error: unknown, limits: { bodyLimit: number }): EdgeError {
  if (error instanceof EdgeError) return error;
  const fastifyError = error as { code?: string; statusCode?: number; message?: string };
  switch (fastifyError?.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new PayloadTooLargeError(limits.bodyLimit);
    case "FST_ERR_BAD_URL":
      return new BadHttpRequestError(
        "The URL is not valid: it holds a malformed percent-encoding (%XX).",
        "invalid_url",
      );
    case "FST_ERR_MAX_PARAM_LENGTH":
      return new BadHttpRequestError("A path segment of the URL is too long.", "uri_too_long");
  }
  const status = fastifyError?.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    // Fastify's own messages may quote the request (a content type, a URL): clip, and use our code.
    return new EdgeError(clip(fastifyError.message ?? "Bad request."), { code: "invalid_request", status });
  }
  return new InternalError("The server hit an unexpected error; see its log.", error);
}
