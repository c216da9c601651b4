import { randomBytes } from "node:crypto";

/**
 * Qwen2.5's native tool-call format, as its chat template teaches it:
 *   <tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>
 * parsed out of streamed text. Text that might be the start of `<tool_call>` is held back; a call's
 * arguments are released as they arrive, minus a tail that might be the closing `}` and `</tool_call>`.
 *
 * Generation may stop inside a block (max_tokens, or the model ending early). flush() then never shows
 * the block's markup as text: a call whose arguments are complete JSON is kept; any other is dropped and
 * not counted. Argument deltas of a dropped call may already have been released (a streaming client has
 * seen them; the finish reason, "length" when cut, says the answer is incomplete); a non-streaming
 * answer leaves the call out.
 */

export const TOOL_CALL_OPEN = "<tool_call>";
export const TOOL_CALL_CLOSE = "</tool_call>";

export type ToolParseEvent =
  | { type: "text"; text: string }
  | { type: "call-start"; index: number; id: string; name: string }
  | { type: "call-arguments"; index: number; text: string };

const HEADER = /^\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*(?=\S)/;

/** An OpenAI-style call id. */
export function newCallId(): string {
  return `call_${randomBytes(12).toString("hex")}`;
}

export class ToolCallParser {
  private buffer = "";
  private state: "text" | "header" | "arguments" = "text";
  private calls = 0;
  /** Arguments released so far for the call being parsed. */
  private args = "";

  constructor(private readonly newId: () => string = newCallId) {}

  /** Calls started so far; after flush(), the complete ones. */
  get callCount(): number {
    return this.calls;
  }

  push(text: string): ToolParseEvent[] {
    this.buffer += text;
    const events: ToolParseEvent[] = [];
    for (let progressed = true; progressed; ) progressed = this.step(events);
    return events;
  }

  /** At the end of generation: held text is released; an unfinished call is completed or dropped. */
  flush(): ToolParseEvent[] {
    const events: ToolParseEvent[] = [];
    const rest = this.buffer;
    this.buffer = "";
    if (this.state === "arguments") {
      // What is held can only be `}`, whitespace and part of `</tool_call>`: the `}` closes either the
      // arguments or the call object around them.
      const held = rest.slice(0, rest.length - partialSuffix(rest, TOOL_CALL_CLOSE)).trim();
      if (!isJson(this.args)) {
        if (held === "}" && isJson(`${this.args}}`)) {
          events.push({ type: "call-arguments", index: this.calls - 1, text: "}" });
        } else {
          this.calls--;
        }
      }
    } else if (this.state === "header") {
      // The start of a call object is a cut call, dropped; anything else after `<tool_call>` was never one.
      if (!/^\s*(\{[\s\S]*)?$/.test(rest)) events.push({ type: "text", text: TOOL_CALL_OPEN + rest });
    } else if (rest && !(this.calls > 0 && rest.trim() === "")) {
      events.push({ type: "text", text: rest });
    }
    this.state = "text";
    return events;
  }

  /** One transition; true if it consumed something and another may follow. */
  private step(events: ToolParseEvent[]): boolean {
    if (this.state === "text") return this.stepText(events);
    if (this.state === "header") return this.stepHeader(events);
    return this.stepArguments(events);
  }

  private stepText(events: ToolParseEvent[]): boolean {
    const open = this.buffer.indexOf(TOOL_CALL_OPEN);
    if (open !== -1) {
      const before = this.buffer.slice(0, open);
      // Whitespace between calls is the template's separator, not content.
      if (before.trim() !== "" || (this.calls === 0 && before !== ""))
        events.push({ type: "text", text: before });
      this.buffer = this.buffer.slice(open + TOOL_CALL_OPEN.length);
      this.state = "header";
      return true;
    }
    const keep = partialSuffix(this.buffer, TOOL_CALL_OPEN);
    const ready = this.buffer.slice(0, this.buffer.length - keep);
    if (ready === "" || (this.calls > 0 && ready.trim() === "")) return false;
    events.push({ type: "text", text: ready });
    this.buffer = this.buffer.slice(ready.length);
    return false;
  }

  private stepHeader(events: ToolParseEvent[]): boolean {
    const header = HEADER.exec(this.buffer);
    if (header) {
      let name: string;
      try {
        name = JSON.parse(header[1]) as string;
      } catch {
        name = header[1].slice(1, -1);
      }
      events.push({ type: "call-start", index: this.calls++, id: this.newId(), name });
      this.args = "";
      this.buffer = this.buffer.slice(header[0].length);
      this.state = "arguments";
      return true;
    }
    const close = this.buffer.indexOf(TOOL_CALL_CLOSE);
    if (close === -1) return false;
    // Not in the streamable order (e.g. arguments first): take the whole block if it is a call.
    const block = this.buffer.slice(0, close);
    this.buffer = this.buffer.slice(close + TOOL_CALL_CLOSE.length);
    this.state = "text";
    const call = parseCallObject(block);
    if (call) {
      const index = this.calls++;
      events.push({ type: "call-start", index, id: this.newId(), name: call.name });
      events.push({ type: "call-arguments", index, text: call.arguments });
    } else {
      events.push({ type: "text", text: TOOL_CALL_OPEN + block + TOOL_CALL_CLOSE });
    }
    return true;
  }

  private stepArguments(events: ToolParseEvent[]): boolean {
    const index = this.calls - 1;
    const close = this.buffer.indexOf(TOOL_CALL_CLOSE);
    if (close !== -1) {
      // The call object's own closing brace ends just before `</tool_call>`.
      const text = this.buffer.slice(0, close).replace(/\}\s*$/, "");
      if (text) events.push({ type: "call-arguments", index, text });
      this.args = "";
      this.buffer = this.buffer.slice(close + TOOL_CALL_CLOSE.length);
      this.state = "text";
      return true;
    }
    const hold = heldTail(this.buffer);
    const ready = this.buffer.slice(0, hold);
    if (ready) events.push({ type: "call-arguments", index, text: ready });
    this.args += ready;
    this.buffer = this.buffer.slice(hold);
    return false;
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of `marker`. */
export function partialSuffix(text: string, marker: string): number {
  for (let n = Math.min(text.length, marker.length - 1); n > 0; n--) {
    if (marker.startsWith(text.slice(text.length - n))) return n;
  }
  return 0;
}

/** Where the tail that might still be `}` + whitespace + `</tool_call>` begins. */
function heldTail(buffer: string): number {
  const partial = partialSuffix(buffer, TOOL_CALL_CLOSE);
  let start = buffer.length - partial;
  while (start > 0 && /\s/.test(buffer[start - 1])) start--;
  if (start > 0 && buffer[start - 1] === "}") start--;
  return start;
}

export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function parseCallObject(block: string): { name: string; arguments: string } | undefined {
  try {
    const value = JSON.parse(block) as { name?: unknown; arguments?: unknown };
    if (typeof value?.name !== "string") return undefined;
    const args = value.arguments ?? {};
    return { name: value.name, arguments: typeof args === "string" ? args : JSON.stringify(args) };
  } catch {
    return undefined;
  }
}
