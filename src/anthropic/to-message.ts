import { randomBytes } from "node:crypto";
import type { FinishReason, StreamPart, Usage } from "../provider/types.js";
import type { ContentBlock, Message, MessageUsage, StopReason, StreamEvent } from "./wire-types.js";

/**
 * Server side, outward: our stream parts to Anthropic's `message` object and its event sequence
 * (`message_start`, `ping`, `content_block_start` / `_delta` / `_stop` per block, `message_delta`,
 * `message_stop`). Text and each tool call are blocks in the order they come; a tool call's arguments go out
 * as `input_json_delta` fragments. The last state is the non-streamed answer.
 */
export class MessageBuilder {
  private readonly blocks: ContentBlock[] = [];
  /** Arguments text of each tool_use block, by block index, parsed into `input` at the end. */
  private readonly args = new Map<number, string>();
  /** Block index of each tool call, by its index among the calls. */
  private readonly callBlocks = new Map<number, number>();
  private open: number | undefined;
  private stopReason: StopReason | null = null;
  private stopSequence: string | null = null;
  private usage: MessageUsage = {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0,
  };

  constructor(
    private readonly options: {
      id: string;
      model: string;
      /** max_tokens was lifted because it did not fit beside the prompt: a cut is the context's, not max_tokens'. */
      uncapped?: boolean;
    },
  ) {}

  /** `message_start` (empty content, usage known only at the end) and a first `ping`, as Anthropic sends them. */
  start(): StreamEvent[] {
    return [{ type: "message_start", message: this.snapshot([]) }, { type: "ping" }];
  }

  push(part: StreamPart): StreamEvent[] {
    const events: StreamEvent[] = [];
    if (part.type === "text-delta") {
      if (part.text === "") return events;
      const open = this.open === undefined ? undefined : this.blocks[this.open];
      if (open?.type !== "text") this.begin({ type: "text", text: "" }, events);
      (this.blocks[this.open as number] as { text: string }).text += part.text;
      events.push({
        type: "content_block_delta",
        index: this.open as number,
        delta: { type: "text_delta", text: part.text },
      });
    } else if (part.type === "tool-call-delta") {
      let index = this.callBlocks.get(part.index);
      if (index === undefined) {
        index = this.begin(
          { type: "tool_use", id: part.id ?? newToolUseId(), name: part.name ?? "", input: {} },
          events,
        );
        this.callBlocks.set(part.index, index);
        this.args.set(index, "");
      }
      if (part.argumentsDelta !== "") {
        this.args.set(index, (this.args.get(index) ?? "") + part.argumentsDelta);
        events.push({
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json: part.argumentsDelta },
        });
      }
    } else if (part.type === "finish") {
      this.close(events);
      this.stopReason = toStopReason(part.finishReason, part.stopSequence);
      if (this.stopReason === "max_tokens" && this.options.uncapped)
        this.stopReason = "model_context_window_exceeded";
      if (this.stopReason === "stop_sequence") this.stopSequence = part.stopSequence ?? null;
      this.usage = toUsage(part.usage);
      events.push(
        {
          type: "message_delta",
          delta: { stop_reason: this.stopReason, stop_sequence: this.stopSequence },
          usage: this.usage,
        },
        { type: "message_stop" },
      );
    }
    return events;
  }

  /**
   * The whole message. A tool call whose arguments are not a JSON object (cut short by max_tokens) is left
   * out, as chat completions leave it out of `tool_calls`.
   */
  message(): Message {
    const content: ContentBlock[] = [];
    for (const [i, block] of this.blocks.entries()) {
      if (block.type === "text") content.push(block);
      else {
        const input = parseObject(this.args.get(i) ?? "");
        if (input) content.push({ ...block, input });
      }
    }
    return this.snapshot(content);
  }

  /** Whether the answer's last part has come. */
  get finished(): boolean {
    return this.stopReason !== null;
  }

  private snapshot(content: ContentBlock[]): Message {
    return {
      id: this.options.id,
      type: "message",
      role: "assistant",
      model: this.options.model,
      content,
      stop_reason: this.stopReason,
      stop_sequence: this.stopSequence,
      usage: { ...this.usage },
    };
  }

  private begin(block: ContentBlock, events: StreamEvent[]): number {
    this.close(events);
    const index = this.blocks.length;
    this.blocks.push(block);
    this.open = index;
    // The start event carries the block empty: its text or input comes in deltas.
    events.push({ type: "content_block_start", index, content_block: { ...block } });
    return index;
  }

  private close(events: StreamEvent[]): void {
    if (this.open === undefined) return;
    events.push({ type: "content_block_stop", index: this.open });
    this.open = undefined;
  }
}

export function newMessageId(): string {
  return `msg_${randomBytes(12).toString("hex")}`;
}

function newToolUseId(): string {
  return `toolu_${randomBytes(12).toString("hex")}`;
}

/** "stop" is the model's end of turn unless a stop string ended it (an upstream never says which). */
function toStopReason(reason: FinishReason, stopSequence: string | undefined): StopReason {
  if (reason === "tool_calls") return "tool_use";
  if (reason === "length") return "max_tokens";
  return stopSequence !== undefined ? "stop_sequence" : "end_turn";
}

export function toUsage(usage: Usage): MessageUsage {
  const cached = Math.min(usage.cachedTokens, usage.promptTokens);
  return {
    // Anthropic counts cache reads apart from input_tokens: the three add up to the prompt.
    input_tokens: usage.promptTokens - cached,
    output_tokens: usage.completionTokens,
    cache_read_input_tokens: cached,
    cache_creation_input_tokens: 0,
  };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text === "" ? "{}" : text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
