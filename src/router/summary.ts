import { EdgeError, UpstreamError } from "../provider/errors.js";

/** What failed, for a route reason: an UpstreamError's summary or an error code, never an upstream's text. */
export function summaryOf(error: unknown): string {
  if (error instanceof UpstreamError) return error.summary;
  return error instanceof EdgeError && error.code ? error.code : "unexpected error";
}
