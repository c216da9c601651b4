import { InvalidRequestError } from "../provider/errors.js";

/**
 * Compaction items (`POST /v1/responses/compact`, `context_management`): OpenAI's carry the earlier conversation
 * encrypted; edgellm's carry a summary the model wrote, encoded (not encrypted: it is the client's own text
 * back, and it goes to the model as a user message, never as instructions).
 */
const PREFIX = "edgellm-compaction-v1:";

export function encodeCompaction(summary: string): string {
  return PREFIX + Buffer.from(JSON.stringify({ summary })).toString("base64url");
}

/** The summary in a compaction item edgellm made; a 400 naming `param` for any other. */
export function decodeCompaction(content: string, param: string): string {
  if (content.startsWith(PREFIX)) {
    try {
      const parsed = JSON.parse(Buffer.from(content.slice(PREFIX.length), "base64url").toString("utf8")) as {
        summary?: unknown;
      };
      if (typeof parsed.summary === "string") return parsed.summary;
    } catch {
      // refused below
    }
  }
  throw new InvalidRequestError(
    `Invalid value for '${param}': this compaction item was not made by this server (POST /v1/responses/compact).`,
    param,
  );
}

/** How a compaction's summary reaches the model. */
export function summaryMessage(summary: string): string {
  return `Summary of our conversation so far:\n${summary}`;
}
