import { createHash } from "node:crypto";
import type { GenerateRequest } from "../provider/types.js";

/** Trailing characters that do not change a question: ASCII and CJK end punctuation, tildes, ellipses, spaces. */
const TRAILING = /[\s?？。．.!！~～…]+$/u;

/**
 * A question as the FAQ cache compares it: Unicode NFKC (full-width letters, digits and punctuation become
 * their ASCII forms), lower case, runs of white space as one space, trailing punctuation dropped.
 * `"  What IS edgellm？？ "` and `"what is edgellm"` are the same question.
 */
export function normalizeQuestion(text: string): string {
  return text.normalize("NFKC").toLowerCase().replace(/\s+/gu, " ").trim().replace(TRAILING, "");
}

export interface FaqKey {
  /** Hash of everything that shapes the answer but sampling: model, system prompt, question, format, tools. */
  key: string;
  /** The question as this request typed it, for the admin listing. */
  question: string;
}

/**
 * The FAQ key of a first-turn chat request (one user message, at most one system message before it), or
 * undefined for any other request: a later turn depends on the conversation, and logprobs cannot be replayed.
 * Sampling is left out on purpose: a FAQ answer is served whatever the temperature.
 */
export function faqKeyOf(request: GenerateRequest): FaqKey | undefined {
  const { prompt } = request;
  if (prompt.kind !== "chat" || request.logprobs) return undefined;
  const { messages } = prompt;
  const user = messages.at(-1);
  const system = messages.length === 2 ? messages[0] : undefined;
  if (user?.role !== "user" || messages.length > 2 || (messages.length === 2 && system?.role !== "system"))
    return undefined;
  const question = normalizeQuestion(user.content);
  if (question === "") return undefined;
  const material = JSON.stringify([
    request.model,
    system?.content ?? null,
    question,
    request.format ?? null,
    prompt.tools ?? null,
    request.toolChoice ?? null,
    // Stop strings cut an answer: one stored under other stops could run past the client's.
    request.sampling.stop,
  ]);
  return { key: createHash("sha256").update(material).digest("base64url"), question: user.content };
}
