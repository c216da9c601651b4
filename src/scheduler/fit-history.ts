import type { ChatMessage } from "../provider/types.js";

/**
 * Context management for a chat too long for the model (`--context-overflow truncate`, Responses
 * `truncation: "auto"`) or past the history budget (`--history-budget`): the oldest whole turns are dropped,
 * never the leading system messages (a developer message is one), the tool definitions (not messages), nor the latest turn
 * (the last user message and what follows it). Turns go in blocks of BLOCK, counted from the first: while a
 * chat grows, the cut stays where it was until the next block must go, so the prompt's beginning (and the
 * engine's cached prefix) stays the same from one turn to the next instead of shifting every turn.
 */
export const BLOCK = 4;

export interface Turns {
  /** Leading system messages: always kept. */
  head: ChatMessage[];
  /** Earlier turns, oldest first, each from a user message to before the next one. */
  turns: ChatMessage[][];
  /** The latest turn, from the last user message on: always kept. */
  tail: ChatMessage[];
}

export function splitTurns(messages: readonly ChatMessage[]): Turns {
  let start = 0;
  while (start < messages.length && messages[start]?.role === "system") start++;
  let last = -1;
  for (let i = messages.length - 1; i >= start; i--)
    if (messages[i]?.role === "user") {
      last = i;
      break;
    }
  if (last < 0) return { head: messages.slice(0, start), turns: [], tail: messages.slice(start) };
  const turns: ChatMessage[][] = [];
  for (let i = start; i < last; i++) {
    const message = messages[i] as ChatMessage;
    if (message.role === "user" || turns.length === 0) turns.push([message]);
    else turns[turns.length - 1]?.push(message);
  }
  return { head: messages.slice(0, start), turns, tail: messages.slice(last) };
}

/** The messages with the first `dropped` earlier turns left out. */
export function withoutTurns(split: Turns, dropped: number): ChatMessage[] {
  return [...split.head, ...split.turns.slice(dropped).flat(), ...split.tail];
}

/**
 * The fewest turns to drop (a multiple of BLOCK, or all of them) for `fits` to hold, or undefined when even
 * dropping every earlier turn is not enough. `fits` is monotone in what is dropped; it is asked O(log n) times.
 */
export async function turnsToDrop(
  split: Turns,
  fits: (messages: ChatMessage[]) => Promise<boolean>,
): Promise<number | undefined> {
  const n = split.turns.length;
  const candidates = Math.ceil(n / BLOCK); // k blocks dropped, k = 1..candidates (the last is all n)
  const dropOf = (k: number) => Math.min(n, k * BLOCK);
  if (!(await fits(withoutTurns(split, n)))) return undefined;
  let low = 1;
  let high = candidates;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (await fits(withoutTurns(split, dropOf(mid)))) high = mid;
    else low = mid + 1;
  }
  return dropOf(low);
}
