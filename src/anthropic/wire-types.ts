/**
 * What this server sends on Anthropic's Messages API, as named types. The `@anthropic-ai/sdk` package's own
 * types are a superset with many fields only Anthropic's servers fill (container, diagnostics, service tier);
 * the tests check these objects against that SDK's accumulators instead.
 */

/**
 * `model_context_window_exceeded`: generation ran until the context was full, short of `max_tokens` (which
 * did not fit beside the prompt).
 */
export type StopReason =
  | "end_turn"
  | "max_tokens"
  | "stop_sequence"
  | "tool_use"
  | "model_context_window_exceeded";

/** No `citations`: the AI SDK's Anthropic provider refuses `null` there, and Anthropic leaves it out too. */
export interface TextBlock {
  type: "text";
  text: string;
}

export interface ToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export type ContentBlock = TextBlock | ToolUseBlock;

export interface MessageUsage {
  input_tokens: number;
  output_tokens: number;
  /** Prompt tokens whose KV state the prefix cache reused. */
  cache_read_input_tokens: number;
  /** Always 0: the prefix cache is written as a side effect, never billed. */
  cache_creation_input_tokens: number;
}

export interface Message {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: ContentBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  usage: MessageUsage;
}

export type StreamEvent =
  | { type: "message_start"; message: Message }
  | { type: "ping" }
  | { type: "content_block_start"; index: number; content_block: ContentBlock }
  | {
      type: "content_block_delta";
      index: number;
      delta: { type: "text_delta"; text: string } | { type: "input_json_delta"; partial_json: string };
    }
  | { type: "content_block_stop"; index: number }
  | {
      type: "message_delta";
      delta: { stop_reason: StopReason; stop_sequence: string | null };
      usage: MessageUsage;
    }
  | { type: "message_stop" }
  | { type: "error"; error: ErrorBody };

/** Anthropic's error types, each with the status Anthropic sends it with. */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

export interface ErrorBody {
  type: ErrorType;
  message: string;
  /** edgellm's own stable code (src/provider/error-codes.ts), beside Anthropic's type. */
  code: string | null;
}

export interface ErrorEnvelope {
  type: "error";
  error: ErrorBody;
}
