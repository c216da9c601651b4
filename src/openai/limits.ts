/**
 * Cheap bounds on what a request may carry, checked by the request schemas before any tokenizing,
 * template rendering or grammar compiling. The body limit (src/api/limits.ts) is the outer bound; these
 * name the field that is too large instead of refusing the whole body, and stop a request that fits the
 * body limit from costing far more than it could ever be worth (a 2-core box tokenizes about 10 MB/s).
 * Every default is far above what the context window of a model served here can hold, so no sensible
 * request meets them.
 */

/**
 * UTF-8 bytes of one message's content (its text parts together, and each part alone), and of a
 * `/v1/completions` prompt or a tool call's `arguments`. 1 MiB is about 250k tokens.
 */
export const MAX_CONTENT_BYTES = 1024 * 1024;

/** Messages in one chat request. */
export const MAX_MESSAGES = 2048;

/** Stop strings in one request (OpenAI allows 4; llama-server no limit). */
export const MAX_STOP_STRINGS = 16;

/** Characters in one stop string: the stop matcher holds back up to this much text while streaming. */
export const MAX_STOP_LENGTH = 512;

/** Tools offered in one request. */
export const MAX_TOOLS = 128;

/** UTF-8 bytes of the whole `tools` array as JSON: all of it is rendered into the prompt. */
export const MAX_TOOLS_JSON_BYTES = 1024 * 1024;

/** Characters in a message's `name` or a function name in an assistant's `tool_calls`. */
export const MAX_NAME_LENGTH = 256;

/** Characters in a `tool_call_id` or a tool call's `id`. */
export const MAX_ID_LENGTH = 256;

/** Entries of `logit_bias`: OpenAI's own limit. */
export const MAX_LOGIT_BIAS = 300;

/**
 * Whether `value` as JSON takes at most `max` UTF-8 bytes. Walks the value without recursion, unlike
 * JSON.stringify, which overflows the stack on a value nested some thousands deep (a hostile tool schema); the
 * depth itself is refused later, with the schema's own error. Stops as soon as the budget is spent.
 */
export function jsonFitsIn(value: unknown, max: number): boolean {
  let bytes = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item !== null && typeof item === "object") {
      const entries = Array.isArray(item) ? item : Object.entries(item);
      bytes += 2 + Math.max(0, entries.length - 1); // brackets and commas
      for (const entry of entries) {
        if (Array.isArray(item)) stack.push(entry);
        else {
          const [key, inner] = entry as [string, unknown];
          bytes += Buffer.byteLength(JSON.stringify(key)) + 1;
          stack.push(inner);
        }
      }
    } else bytes += Buffer.byteLength(JSON.stringify(item) ?? "null");
    if (bytes > max) return false;
  }
  return true;
}

/** Inputs in one `/v1/embeddings` request (OpenAI's own limit). */
export const MAX_EMBEDDING_INPUTS = 2048;
