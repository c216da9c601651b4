/**
 * The plain baseline for knowledge-base search: BM25 (k1 1.2, b 0.75) over fixed 400-character chunks of each
 * file's raw text (no headings, no front matter handling, no overlap), words from `Intl.Segmenter` (locale "zh",
 * granularity "word", word-like segments only, lowercased), no stemming. It is what better search is measured
 * against with bench/kb-eval.ts.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { KbQuestion } from "./kb-eval.js";

export const BASELINE_K1 = 1.2;
export const BASELINE_B = 0.75;
export const BASELINE_CHUNK_CHARS = 400;
export const BASELINE_TOP_K = 10;

const segmenter = new Intl.Segmenter("zh", { granularity: "word" });

/** Word-like segments, lowercased. */
export function baselineTokens(text: string): string[] {
  const out: string[] = [];
  for (const s of segmenter.segment(text)) if (s.isWordLike) out.push(s.segment.toLowerCase());
  return out;
}

/** Every Markdown file under `dir`, as paths relative to it with `/`, sorted; the corpus's own README left out. */
export function corpusFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".md"))
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join("/"))
    .filter((rel) => rel !== "README.md")
    .sort();
}

/** Consecutive pieces of at most `size` characters (code points). */
export function fixedChunks(text: string, size = BASELINE_CHUNK_CHARS): string[] {
  const chars = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(""));
  return out;
}

interface Posting {
  chunk: number;
  tf: number;
}

export interface BaselineHit {
  file: string;
  score: number;
}

/** A BM25 index of a corpus folder's fixed chunks. */
export class BaselineIndex {
  private readonly chunkFile: string[] = [];
  private readonly chunkLength: number[] = [];
  private readonly postings = new Map<string, Posting[]>();
  private readonly averageLength: number;

  constructor(corpusDir: string) {
    for (const file of corpusFiles(corpusDir)) {
      for (const chunk of fixedChunks(readFileSync(path.join(corpusDir, file), "utf8"))) {
        const id = this.chunkFile.length;
        const tokens = baselineTokens(chunk);
        this.chunkFile.push(file);
        this.chunkLength.push(tokens.length);
        const tf = new Map<string, number>();
        for (const t of tokens) tf.set(t, (tf.get(t) ?? 0) + 1);
        for (const [term, n] of tf) {
          const list = this.postings.get(term);
          if (list) list.push({ chunk: id, tf: n });
          else this.postings.set(term, [{ chunk: id, tf: n }]);
        }
      }
    }
    const total = this.chunkLength.reduce((a, b) => a + b, 0);
    this.averageLength = this.chunkFile.length === 0 ? 0 : total / this.chunkFile.length;
  }

  get chunks(): number {
    return this.chunkFile.length;
  }

  /**
   * The best `k` chunks with a score above 0, best first (ties in corpus order). Each query token counts once per
   * occurrence in the query; idf is BM25's ln(1 + (N - n + 0.5) / (n + 0.5)).
   */
  search(query: string, k = BASELINE_TOP_K): BaselineHit[] {
    const n = this.chunkFile.length;
    const scores = new Map<number, number>();
    for (const term of baselineTokens(query)) {
      const list = this.postings.get(term);
      if (!list) continue;
      const idf = Math.log(1 + (n - list.length + 0.5) / (list.length + 0.5));
      for (const { chunk, tf } of list) {
        const norm = 1 - BASELINE_B + (BASELINE_B * this.chunkLength[chunk]) / this.averageLength;
        const s = (idf * tf * (BASELINE_K1 + 1)) / (tf + BASELINE_K1 * norm);
        scores.set(chunk, (scores.get(chunk) ?? 0) + s);
      }
    }
    return [...scores]
      .filter(([, s]) => s > 0)
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, k)
      .map(([chunk, score]) => ({ file: this.chunkFile[chunk], score }));
  }
}

/** The baseline's top chunks for each question, with scores. */
export function baselineSearch(corpusDir: string, questions: readonly KbQuestion[]): BaselineHit[][] {
  const index = new BaselineIndex(corpusDir);
  return questions.map((q) => index.search(q.question));
}

/** The files of the baseline's top 10 chunks for each question, in order, duplicates kept as chunks come. */
export function baselineRank(corpusDir: string, questions: readonly KbQuestion[]): string[][] {
  return baselineSearch(corpusDir, questions).map((hits) => hits.map((h) => h.file));
}
