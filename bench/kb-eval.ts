/**
 * Retrieval quality of knowledge-base search over /work/shared/kb-corpus, judged by the labelled questions in
 * bench/kb-questions.json. A search returns ranked chunks; the scorer sees only the file of each chunk (its path
 * relative to the corpus folder, e.g. `vue-docs-zh/guide/essentials/computed.md`, `tldr-en/tar.md`). A chunk is a
 * hit when its file is one of the question's answering files.
 *
 * recall@k: the share of answerable questions with a hit among the first k chunks. MRR: the mean over answerable
 * questions of 1 / the rank of the first hit (0 when no returned chunk is a hit; the ranking is read as long as it
 * is given, the baseline gives 10). Questions with no answer in the corpus (`answers: []`) are left out of both and
 * reported apart with the top score the search gave them, next to the top scores of answerable questions, so a
 * "nothing relevant" threshold can be judged.
 */
import { readFileSync } from "node:fs";

export type KbLang = "zh" | "en";

export interface KbQuestion {
  id: string;
  lang: KbLang;
  question: string;
  /** Every file that answers the question, relative to the corpus folder; empty when nothing in the corpus does. */
  answers: string[];
  /** Where in the file(s) the answer is. */
  note?: string;
  /** A free label for grouping figures, e.g. "vue-deep" (answer in a later section of a long page), "tldr". */
  kind?: string;
}

/** recall@1, recall@5 and MRR over a group of answerable questions. */
export interface LangFigures {
  questions: number;
  recallAt1: number;
  recallAt5: number;
  mrr: number;
}

export interface Miss {
  id: string;
  lang: KbLang;
  question: string;
  answers: string[];
  /** The rank (1-based) of the first hit further down the ranking, null when there is none. */
  firstHitRank: number | null;
  /** The files of the first 5 chunks returned. */
  top5: string[];
}

export interface NoAnswerResult {
  id: string;
  lang: KbLang;
  question: string;
  /** The file of the first chunk returned, null when nothing was returned. */
  topFile: string | null;
  /** The score of the first chunk returned, null when scores were not given or nothing was returned. */
  topScore: number | null;
}

export interface TopScoreSummary {
  min: number;
  p10: number;
  median: number;
  max: number;
}

export interface KbScores {
  /** Answerable questions scored. */
  questions: number;
  recallAt1: number;
  recallAt5: number;
  mrr: number;
  byLang: Partial<Record<KbLang, LangFigures>>;
  /** The same figures by `kind`, for questions that have one. */
  byKind: Record<string, LangFigures>;
  /** Answerable questions without a hit among the first 5 chunks. */
  misses: Miss[];
  noAnswer: NoAnswerResult[];
  /** The top scores of answerable questions, to set against `noAnswer`'s; null when scores were not given. */
  answerableTopScores: TopScoreSummary | null;
}

/** Reads and checks a question file (`{ description, questions: [...] }`). */
export function loadQuestions(file: string): KbQuestion[] {
  const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
  const list = (parsed as { questions?: unknown }).questions;
  if (!Array.isArray(list)) throw new Error(`${file}: no "questions" array`);
  const seen = new Set<string>();
  return list.map((raw, i): KbQuestion => {
    const q = raw as Partial<KbQuestion>;
    const where = `${file}: question ${i} (${String(q.id)})`;
    if (typeof q.id !== "string" || q.id === "") throw new Error(`${where}: no id`);
    if (seen.has(q.id)) throw new Error(`${where}: duplicate id`);
    seen.add(q.id);
    if (q.lang !== "zh" && q.lang !== "en") throw new Error(`${where}: lang must be "zh" or "en"`);
    if (typeof q.question !== "string" || q.question.trim() === "") throw new Error(`${where}: no question`);
    if (!Array.isArray(q.answers) || !q.answers.every((a) => typeof a === "string" && a !== "")) {
      throw new Error(`${where}: answers must be an array of paths`);
    }
    if (new Set(q.answers).size !== q.answers.length) throw new Error(`${where}: an answer is listed twice`);
    if (q.note !== undefined && typeof q.note !== "string")
      throw new Error(`${where}: note must be a string`);
    if (q.kind !== undefined && typeof q.kind !== "string")
      throw new Error(`${where}: kind must be a string`);
    return { id: q.id, lang: q.lang, question: q.question, answers: q.answers, note: q.note, kind: q.kind };
  });
}

/**
 * The question set's two halves, so that ranking is tuned without fooling oneself: a change is tuned on `tune`
 * (the 2nd, 4th, ... question of the file) and checked on `check` (the 1st, 3rd, ...), and kept when both gain.
 * Each half is the indexes of its questions.
 */
export function halves(count: number): { tune: number[]; check: number[] } {
  const all = Array.from({ length: count }, (_, i) => i);
  return { tune: all.filter((i) => i % 2 === 1), check: all.filter((i) => i % 2 === 0) };
}

/** 1-based rank of the first returned file that answers, null when none does. */
function firstHit(answers: ReadonlySet<string>, ranked: readonly string[]): number | null {
  const i = ranked.findIndex((file) => answers.has(file));
  return i < 0 ? null : i + 1;
}

function figures(ranks: (number | null)[]): LangFigures {
  const n = ranks.length;
  const share = (ok: (r: number) => boolean) =>
    n === 0 ? 0 : ranks.filter((r) => r !== null && ok(r)).length / n;
  return {
    questions: n,
    recallAt1: share((r) => r === 1),
    recallAt5: share((r) => r <= 5),
    mrr: n === 0 ? 0 : ranks.reduce<number>((sum, r) => sum + (r === null ? 0 : 1 / r), 0) / n,
  };
}

function summary(values: number[]): TopScoreSummary | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return { min: sorted[0], p10: at(0.1), median: at(0.5), max: sorted[sorted.length - 1] };
}

/**
 * Scores one search run. `rankedFilesPerQuestion[i]` is the file of each chunk returned for `questions[i]`, best
 * first (duplicates as the chunks come); `topScorePerQuestion[i]`, when given, is the score of its first chunk.
 */
export function scoreRanking(
  questions: readonly KbQuestion[],
  rankedFilesPerQuestion: readonly (readonly string[])[],
  topScorePerQuestion?: readonly (number | null | undefined)[],
): KbScores {
  if (rankedFilesPerQuestion.length !== questions.length) {
    throw new Error(`${rankedFilesPerQuestion.length} rankings for ${questions.length} questions`);
  }
  if (topScorePerQuestion && topScorePerQuestion.length !== questions.length) {
    throw new Error(`${topScorePerQuestion.length} top scores for ${questions.length} questions`);
  }
  const ranks: (number | null)[] = [];
  const ranksByLang = new Map<KbLang, (number | null)[]>();
  const ranksByKind = new Map<string, (number | null)[]>();
  const misses: Miss[] = [];
  const noAnswer: NoAnswerResult[] = [];
  const answerableTop: number[] = [];
  questions.forEach((q, i) => {
    const ranked = rankedFilesPerQuestion[i];
    const topScore = ranked.length > 0 ? (topScorePerQuestion?.[i] ?? null) : null;
    if (q.answers.length === 0) {
      noAnswer.push({ id: q.id, lang: q.lang, question: q.question, topFile: ranked[0] ?? null, topScore });
      return;
    }
    if (topScore !== null) answerableTop.push(topScore);
    const rank = firstHit(new Set(q.answers), ranked);
    ranks.push(rank);
    ranksByLang.set(q.lang, [...(ranksByLang.get(q.lang) ?? []), rank]);
    if (q.kind !== undefined) ranksByKind.set(q.kind, [...(ranksByKind.get(q.kind) ?? []), rank]);
    if (rank === null || rank > 5) {
      misses.push({
        id: q.id,
        lang: q.lang,
        question: q.question,
        answers: q.answers,
        firstHitRank: rank,
        top5: ranked.slice(0, 5),
      });
    }
  });
  const byLang: Partial<Record<KbLang, LangFigures>> = {};
  for (const [lang, langRanks] of ranksByLang) byLang[lang] = figures(langRanks);
  const byKind: Record<string, LangFigures> = {};
  for (const [kind, kindRanks] of ranksByKind) byKind[kind] = figures(kindRanks);
  return {
    ...figures(ranks),
    byLang,
    byKind,
    misses,
    noAnswer,
    answerableTopScores: topScorePerQuestion ? summary(answerableTop) : null,
  };
}
