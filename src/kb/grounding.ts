import type { ChatMessage } from "../provider/types.js";
import { isChinese } from "./analyze.js";
import type { SearchHit } from "./search.js";

/**
 * Grounded answers: the passages a search found go into the prompt numbered, the model is told to answer
 * from them alone and cite them as [1], [2]; its citations become annotations. Pure functions.
 */

/** Passages put into a grounded prompt by default: three of `auto`'s 300-token chunks keep prefill short. */
export const DEFAULT_PASSAGES = 3;
/**
 * Below this relevance (search.ts's 0-1 score) a passage is not evidence: with none above it, the answer says
 * nothing was found instead of letting the model invent one. Measured on bench/kb-questions.json over the
 * whole shared corpus (2026-12-08, after the ranking's K1, file-evidence and Chinese-character changes): the 5
 * questions with no answer had top scores 0.049-0.186, the answerable ones a minimum of 0.056, a 10th
 * percentile of 0.111 and a median of 0.235; 0.08 turns away the clearly unrelated and few real questions.
 * Lexical scores separate the two poorly; a request's `score_threshold` overrides it.
 */
export const DEFAULT_RELEVANCE = 0.08;

export interface Passage {
  /** Its number in the prompt, from 1. */
  n: number;
  hit: SearchHit;
}

/** "guide.md › Installation › npm": where a passage comes from, as the prompt and citations show it. */
export function sourceOf(hit: SearchHit): string {
  return [hit.filename ?? hit.chunk.fileId, ...hit.chunk.headingPath].join(" › ");
}

/** The system message holding the passages, in the question's language. */
export function passagesMessage(passages: readonly Passage[], question: string): ChatMessage {
  const zh = isChinese(question);
  const rule = zh
    ? "请只根据下面编号的资料回答用户的问题，并在用到的句子后用方括号标出资料编号，例如 [1]。资料里没有答案时，直接说明在文档中没有找到，不要编造。"
    : "Answer the user's question using only the numbered passages below, and cite each passage you use by its number in brackets, like [1]. If the passages do not hold the answer, say that the documents do not cover it; do not make one up.";
  const body = passages.map((p) => `[${p.n}] ${sourceOf(p.hit)}\n${p.hit.chunk.text}`).join("\n\n");
  return { role: "system", content: `${rule}\n\n${body}` };
}

/**
 * The conversation with the passages just before its last user message: earlier turns (and their own
 * passages, kept in the stored conversation) stay a common prefix, so the next turn reuses the KV cache.
 */
export function withPassages(messages: readonly ChatMessage[], passages: ChatMessage): ChatMessage[] {
  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--)
    if (messages[i]?.role === "user") {
      last = i;
      break;
    }
  if (last < 0) return [...messages, passages];
  return [...messages.slice(0, last), passages, ...messages.slice(last)];
}

/** The text of the last user message: what a grounded answer searches for. */
export function lastQuestion(messages: readonly ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--)
    if (messages[i]?.role === "user") return messages[i]?.content ?? "";
  return "";
}

/** The answer when nothing relevant was found, in the question's language. */
export function notFoundAnswer(question: string): string {
  return isChinese(question)
    ? "抱歉，我在知识库的文档中没有找到与这个问题相关的内容，无法根据文档回答。"
    : "Sorry, I could not find anything about this in the knowledge base's documents, so I cannot answer it from them.";
}

export type CitedSegment = { text: string } | { cite: number[] };

/** The longest marker kept back while it might still close: "[12, 13]", "【1】". */
const MAX_MARKER = 16;
const MARKER = /\[(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\]|【(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)】/g;

/**
 * Finds citation markers ([1], [1, 2], 【1】) in a streamed answer, whichever deltas they are split across:
 * text that could be the start of one is held back until it closes or cannot be one. Numbers outside
 * 1..`count` are not citations and stay text.
 */
export class CitationParser {
  private pending = "";

  constructor(private readonly count: number) {}

  push(delta: string): CitedSegment[] {
    this.pending += delta;
    const out = this.scan(false);
    return out;
  }

  /** What is still held back, at the end of the answer. */
  end(): CitedSegment[] {
    return this.scan(true);
  }

  private scan(final: boolean): CitedSegment[] {
    const out: CitedSegment[] = [];
    let text = this.pending;
    let emitted = 0;
    for (const m of text.matchAll(MARKER)) {
      const numbers = (m[1] ?? m[2] ?? "").split(/\s*[,，、]\s*/).map(Number);
      if (!numbers.every((n) => n >= 1 && n <= this.count)) continue;
      if (m.index > emitted) out.push({ text: text.slice(emitted, m.index) });
      out.push({ cite: numbers });
      emitted = m.index + m[0].length;
    }
    text = text.slice(emitted);
    let keep = 0;
    if (!final) {
      const open = Math.max(text.lastIndexOf("["), text.lastIndexOf("【"));
      if (open >= 0 && text.length - open <= MAX_MARKER && /^(\[|【)[\d\s,，、]*$/.test(text.slice(open)))
        keep = text.length - open;
    }
    const free = text.slice(0, text.length - keep);
    if (free !== "") out.push({ text: free });
    this.pending = text.slice(text.length - keep);
    return out;
  }
}
