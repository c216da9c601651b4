import {
  EdgeError,
  InternalError,
  InvalidRequestError,
  PayloadTooLargeError,
  QueueFullError,
} from "../errors.js";

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: { message: string; type: string; param: string | null; code: string | null } };
}

/** The one place where any thrown value becomes an OpenAI-style error response. */
export function toErrorResponse(error: unknown, limits: { bodyLimit: number }): ErrorResponse {
  const edge = toEdgeError(error, limits);
  const headers: Record<string, string> = {};
  if (edge instanceof QueueFullError) headers["retry-after"] = String(edge.retryAfterSeconds);
  if (edge.status === 503) headers["retry-after"] = "1";
  return {
    status: edge.status,
    headers,
    body: { error: { message: edge.message, type: edge.type, param: edge.param, code: edge.code } },
  };
}

function toEdgeError(error: unknown, limits: { bodyLimit: number }): EdgeError {
  if (error instanceof EdgeError) return error;
  const fastifyError = error as { code?: string; statusCode?: number; message?: string };
  if (fastifyError?.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new PayloadTooLargeError(limits.bodyLimit);
  if (
    typeof fastifyError?.statusCode === "number" &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    return new InvalidRequestError(fastifyError.message ?? "Bad request.", null, fastifyError.code ?? null);
  }
  return new InternalError("The server hit an unexpected error; see its log.", error);
}
