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

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: { message: string; type: string; param: string | null; code: string | null } };
}

/** A message or param longer than this is cut: each should quote client input through clip() already. */
const MAX_MESSAGE_LENGTH = 1000;
const MAX_PARAM_LENGTH = 200;

/** The one place where any thrown value becomes an OpenAI-style error response. */
export function toErrorResponse(error: unknown, limits: { bodyLimit: number }): ErrorResponse {
  const edge = toEdgeError(error, limits);
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
        message: clip(edge.message, MAX_MESSAGE_LENGTH),
        type: edge.type,
        param: edge.param === null ? null : clip(edge.param, MAX_PARAM_LENGTH),
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
      return new BadHttpRequestError("A path segment of the URL is too long.", "uri_too_long", 414);
  }
  const status = fastifyError?.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    // Fastify's own messages may quote the request (a content type, a URL): clip, and use our code.
    return new EdgeError(clip(fastifyError.message ?? "Bad request."), {
      status,
      type: "invalid_request_error",
      code: "invalid_request",
    });
  }
  return new InternalError("The server hit an unexpected error; see its log.", error);
}
