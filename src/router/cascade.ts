import type { FinishReason } from "../provider/types.js";

/**
 * Confidence in a local answer, for the cascade: 1 means keep it, lower means escalate. Heuristics on
 * the answer text (empty, truncated, hedging, looping, wrong language, garbled), the ask's difficulty,
 * and, when the local engine reports them, the tokens' mean log-probability. Uncalibrated. Pure.
 */

export interface Confidence {
  score: number;
  /** Why it was lowered, e.g. ["repetitive", "refusal"]. */
  reasons: string[];
}

const CJK = /[\u3400-\u9fff]/g;
const HEDGES =
  /\b(i'?m not sure|i don'?t know|i do not know|i cannot|i can'?t (help|answer)|as an ai|unable to (answer|help)|not able to)\b|我不确定|我不知道|无法回答|作为一个?(人工智能|AI)|我不能|抱歉/i;

export function localConfidence(
  ask: string,
  answer: string,
  finishReason: FinishReason,
  /** The policy's difficulty for the ask, 0..1: a hard ask needs more evidence to keep. */
  difficulty: number,
  /** Mean natural-log probability of the answer's tokens, when known. */
  meanLogprob?: number,
): Confidence {
  const reasons: string[] = [];
  let score = 1;
  const text = answer.trim();
  if (text.length < 2) {
    return { score: 0, reasons: ["empty answer"] };
  }
  if (finishReason === "length") {
    score -= 0.2;
    reasons.push("truncated");
  }
  if (HEDGES.test(text)) {
    score -= 0.5;
    reasons.push("hedges or refuses");
  }
  const repetition = repetitionRatio(text);
  if (repetition > 0.35) {
    score -= Math.min(0.6, repetition);
    reasons.push("repetitive");
  }
  // Answering a Chinese question in another script (or the reverse) is a common small-model failure.
  const askCjk = cjkShare(ask);
  const answerCjk = cjkShare(text);
  if ((askCjk > 0.3 && answerCjk < 0.05) || (askCjk < 0.02 && answerCjk > 0.3)) {
    score -= 0.3;
    reasons.push("wrong language");
  }
  const odd = (text.match(/[\uFFFD\p{Cc}]/gu)?.length ?? 0) / text.length - controlWhitespace(text);
  if (odd > 0.01) {
    score -= 0.5;
    reasons.push("garbled");
  }
  if (meanLogprob !== undefined) {
    // 0 (always the top token) costs nothing; -2.5 (a geometric-mean token probability of 8%) costs 0.6.
    const doubt = Math.min(1, Math.max(0, -meanLogprob / 2.5));
    if (doubt > 0.2) reasons.push(`mean logprob ${meanLogprob.toFixed(2)}`);
    score -= doubt * 0.6;
  }
  if (difficulty > 0) {
    score -= difficulty * 0.3;
    if (difficulty >= 0.3) reasons.push(`hard ask (${difficulty.toFixed(2)})`);
  }
  return { score: Math.max(0, Math.round(score * 100) / 100), reasons };
}

/** Share of repeated character 8-grams: 0 for varied text, near 1 for a loop. */
export function repetitionRatio(text: string): number {
  const chars = [...text];
  if (chars.length < 40) return 0;
  const seen = new Set<string>();
  let repeats = 0;
  for (let i = 0; i + 8 <= chars.length; i++) {
    const gram = chars.slice(i, i + 8).join("");
    if (seen.has(gram)) repeats++;
    else seen.add(gram);
  }
  return repeats / (chars.length - 7);
}

/** Share of tabs and newlines, which are control characters but belong in text. */
function controlWhitespace(text: string): number {
  return (text.match(/[\t\n\r]/g)?.length ?? 0) / text.length;
}

function cjkShare(text: string): number {
  const letters = text.replace(/[\s\p{P}\p{S}\d]/gu, "").length;
  return letters === 0 ? 0 : (text.match(CJK)?.length ?? 0) / letters;
}
