import { InvalidRequestError } from "../provider/errors.js";
import type { RoutingHints } from "../provider/types.js";

/** The header a client sends to keep its request on this machine: `x-edgellm-allow-cloud: false`. */
export const ALLOW_CLOUD_HEADER = "x-edgellm-allow-cloud";

/**
 * Per-request routing controls from the header or the body field `edgellm: {allow_cloud: false}`
 * (the body wins). Pure; throws InvalidRequestError for a value that is not a boolean.
 */
export function routingHintsOf(headers: Record<string, unknown>, body: unknown): RoutingHints | undefined {
  let allowCloud: boolean | undefined;
  const header = headers[ALLOW_CLOUD_HEADER];
  if (typeof header === "string") {
    const value = header.trim().toLowerCase();
    if (["false", "0", "no", "off"].includes(value)) allowCloud = false;
    else if (["true", "1", "yes", "on"].includes(value)) allowCloud = true;
    else throw new InvalidRequestError(`The ${ALLOW_CLOUD_HEADER} header must be true or false.`);
  }
  const field = (body as { edgellm?: unknown } | null | undefined)?.edgellm;
  if (field !== undefined && field !== null) {
    const value = (field as { allow_cloud?: unknown }).allow_cloud;
    if (typeof field !== "object" || (value !== undefined && typeof value !== "boolean"))
      throw new InvalidRequestError("edgellm.allow_cloud must be a boolean.", "edgellm.allow_cloud");
    if (typeof value === "boolean") allowCloud = value;
  }
  return allowCloud === undefined ? undefined : { allowCloud };
}
