/**
 * Fitting a conversation into the model's context window. The page has no tokenizer, so it estimates
 * conservatively (about a third more tokens than Qwen's tokenizer produces); if the server still
 * answers context_length_exceeded, the caller drops one more turn and retries.
 */

export interface WireMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Chat-template tokens around each message (`<|im_start|>role\n ... <|im_end|>\n`). */
const PER_MESSAGE = 6;
/** The template's default system prompt and the assistant header the prompt ends with. */
const PER_PROMPT = 32;

/** Over-estimates tokens: CJK characters count one each, other text one per 3 characters. */
export function estimateTokens(text: string): number {
  let cjk = 0;
  for (const ch of text) if (/[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]/.test(ch)) cjk++;
  return cjk + Math.ceil((text.length - cjk) / 3);
}

export function estimatePrompt(messages: readonly WireMessage[]): number {
  return PER_PROMPT + messages.reduce((sum, m) => sum + PER_MESSAGE + estimateTokens(m.content), 0);
}

export interface FitResult {
  messages: WireMessage[];
  /** How many of the conversation's messages were left out (oldest first). */
  dropped: number;
  /** Estimated prompt tokens of what is sent. */
  estimate: number;
  /** False when even the last message alone does not fit. */
  fits: boolean;
}

/**
 * Keeps the system prompt and the newest messages that fit `budget` prompt tokens, dropping whole
 * turns from the oldest so that the history still starts with a user message. `minDrop` forces at
 * least that many messages out (used after the server refused an estimate as too optimistic).
 */
export function fitToContext(
  system: WireMessage | undefined,
  history: readonly WireMessage[],
  budget: number,
  minDrop = 0,
): FitResult {
  const head = system ? [system] : [];
  let start = 0;
  const dropTo = (n: number) => {
    start = Math.min(n, history.length - 1);
    // Never start on an assistant message: the model would see an answer without its question.
    while (start < history.length - 1 && history[start].role !== "user") start++;
  };
  dropTo(minDrop);
  let estimate = estimatePrompt([...head, ...history.slice(start)]);
  while (estimate > budget && start < history.length - 1) {
    dropTo(start + 1);
    estimate = estimatePrompt([...head, ...history.slice(start)]);
  }
  return {
    messages: [...head, ...history.slice(start)],
    dropped: start,
    estimate,
    fits: estimate <= budget,
  };
}

/**
 * Prompt tokens the request may use: the window minus the room kept for the answer (max tokens up to
 * half the window, or a quarter of it when uncapped). The request's max_tokens is then clamped to
 * what is left, so a large setting shortens the answer rather than the history.
 */
export function promptBudget(contextSize: number, maxTokens: number): number {
  const reserve =
    maxTokens > 0 ? Math.min(maxTokens, Math.floor(contextSize / 2)) : Math.floor(contextSize / 4);
  return Math.max(0, contextSize - reserve);
}
