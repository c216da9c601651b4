import type { EmbeddingProvider } from "../provider/types.js";
import type { ChunkRecord, ChunkTerms, KbStore } from "../store/kb-store.js";
import { analyzeQuery, isHanCharacter } from "./analyze.js";

export interface SearchOptions {
  /** Results wanted, 1 to 50. */
  maxResults: number;
  /** Results scoring below this (0 to 1) are left out. Default 0. */
  scoreThreshold?: number;
  /** Weights of vector and lexical ranks in the fusion (OpenAI's `ranking_options.hybrid_search`). Default 1 and 1. */
  hybrid?: { embeddingWeight: number; textWeight: number };
  /** Whether a chunk's file may be returned (attribute filters). Default: all may. */
  allowed?: (storeId: string, fileId: string) => boolean;
}

export interface SearchHit {
  chunk: ChunkRecord;
  /** Relevance from 0 to 1 (see `lexicalScore`; fused with the vector similarity when there are vectors). */
  score: number;
  filename?: string;
  attributes?: Record<string, string | number | boolean>;
}

/** Lexical candidates taken from the index before scoring and filtering. */
const CANDIDATES = 100;
/**
 * Terms in more than this share of the chunks are left out of the candidate query (but scored): on the
 * question set, this and 100 candidates took a search from 19 to 14 ms and changed no figure.
 */
const COMMON_SHARE = 0.1;
/** Query terms kept, the most informative first: a pasted page searches by its rarest words. */
const MAX_QUERY_TERMS = 64;
/**
 * BM25's term-frequency saturation and length normalization. K1 is above the usual 1.2: a term's weight in a
 * title or heading enters as extra frequency, which a low K1 saturates away. On the tuning half of
 * bench/kb-questions.json (its 2nd, 4th, ... question) 2 took MRR from 0.733 to 0.764; on the other half
 * from 0.772 to 0.780.
 */
const K1 = 2;
const B = 0.75;
/**
 * How much of the best other candidate chunk of the same file is added to a chunk's score: a page with
 * several sections on the question is more likely about it than one passage that happens to share its
 * words. With K1 = 2, 0.2 took MRR from 0.764 to 0.781 on the tuning half and 0.780 to 0.823 on the other
 * (0.4 did worse on both). Once the index held the characters of Chinese words (INNER_CHARACTER_WEIGHT),
 * 0.15 did better than 0.2 on the tuning half (recall@5 0.829 to 0.878, MRR 0.787 to 0.792) and the same on
 * the other (0.1: recall@5 0.902 and MRR 0.794 on the first, MRR 0.838 against 0.851 on the second).
 */
const FILE_EVIDENCE = 0.15;
/** How much a term counts in a document's title (and file name), in a chunk's heading path, in its text. */
const FIELD_WEIGHTS = { title: 3, heading: 2, body: 1 } as const;

/**
 * How much a query's single Chinese character counts where it is part of a longer word ("算" in "计算")
 * against standing alone: the index finds it there (`innerCharacters`), but as a part it says less. On the
 * tuning half 0.5 kept recall@1 and @5 (0.756, 0.829) and took MRR from 0.781 to 0.787 (1: recall@5 0.878,
 * MRR 0.776); on the other half it took recall@5 from 0.878 to 0.927 and MRR from 0.823 to 0.851. A store
 * indexed before the index held characters finds them only in chunks its other terms find.
 */
const INNER_CHARACTER_WEIGHT = 0.5;

/**
 * A chunk's weighted term frequencies and length (BM25F: a term in a heading counts twice). The characters in
 * `characters` (the query's single Chinese characters) also count inside the chunk's longer words, which add
 * nothing to its length: the words are already counted.
 */
function weighted(
  terms: ChunkTerms | undefined,
  characters: ReadonlySet<string>,
): { tf: Map<string, number>; length: number } {
  const tf = new Map<string, number>();
  let length = 0;
  if (!terms) return { tf, length };
  for (const field of ["title", "heading", "body"] as const) {
    const weight = FIELD_WEIGHTS[field];
    for (const t of terms[field]) {
      tf.set(t, (tf.get(t) ?? 0) + weight);
      if (characters.size === 0 || t.length < 2) continue;
      // innerCharacters(t) without its array (this runs for every term of every candidate): `characters` holds
      // Han characters only, and a term of one character outside the BMP (length 2) is not inside itself.
      for (const ch of t) {
        if (ch !== t && characters.has(ch)) tf.set(ch, (tf.get(ch) ?? 0) + weight * INNER_CHARACTER_WEIGHT);
      }
    }
    length += weight * terms[field].length;
  }
  return { tf, length };
}

/**
 * Each chunk's ranking value: its BM25 plus FILE_EVIDENCE times the best BM25 of another chunk of its file
 * among the candidates (0 when it is its file's only one). Its 0-1 score stays its own.
 */
export function withFileEvidence<T extends { file: string; bm25: number }>(
  chunks: readonly T[],
): Map<T, number> {
  // The two best scores of each file: a chunk's best other is the first, or the second when it is the first.
  const top = new Map<string, [number, number]>();
  for (const c of chunks) {
    const [first, second] = top.get(c.file) ?? [0, 0];
    top.set(c.file, c.bm25 >= first ? [c.bm25, first] : [first, Math.max(second, c.bm25)]);
  }
  return new Map(
    chunks.map((c) => {
      const [first, second] = top.get(c.file) ?? [0, 0];
      return [c, c.bm25 + FILE_EVIDENCE * (c.bm25 === first ? second : first)];
    }),
  );
}

/** Reciprocal rank fusion's constant (Cormack et al.; what OpenAI's hybrid search and most engines use). */
const RRF_K = 60;

/**
 * A chunk's lexical relevance from 0 to 1, comparable across queries (what `score_threshold` and the
 * grounded answer's "nothing relevant" test use): the share of the query's information (its terms' IDF) that
 * the chunk holds, times how strongly it holds it (BM25 over the same terms, relative to that IDF mass, which
 * is about 1 for a chunk whose text has each term once and grows with terms in its title and headings).
 */
export function lexicalScore(bm25: number, covered: number, total: number): number {
  if (total <= 0) return 0;
  const strength = bm25 / total;
  return (covered / total) * (strength / (strength + 0.5));
}

/** Search over stores' chunks: BM25 always, vectors too when the stores have them, fused by rank. */
export class Searcher {
  private readonly cache = new Map<string, { version: number; ids: number[]; vectors: Float32Array[] }>();

  constructor(
    private readonly store: KbStore,
    private readonly embeddings: EmbeddingProvider | undefined,
  ) {}

  async search(
    storeIds: readonly string[],
    query: string,
    options: SearchOptions & { signal?: AbortSignal },
    withVectors: boolean,
  ): Promise<SearchHit[]> {
    const lexical = this.lexical(storeIds, query, options.allowed);
    let ranked: { id: number; score: number }[] = lexical;
    if (withVectors && this.embeddings?.state === "ready") {
      const vector = await this.vector(storeIds, query, options);
      ranked = fuse(lexical, vector, options.hybrid ?? { embeddingWeight: 1, textWeight: 1 });
    }
    const threshold = options.scoreThreshold ?? 0;
    const top = ranked.filter((r) => r.score >= threshold && r.score > 0).slice(0, options.maxResults);
    const chunks = new Map(this.store.chunks(top.map((t) => t.id)).map((c) => [c.id, c]));
    return top.flatMap((t) => {
      const chunk = chunks.get(t.id);
      return chunk ? [{ chunk, score: t.score }] : [];
    });
  }

  /** Lexical candidates, best first, each with its 0-1 score. */
  private lexical(
    storeIds: readonly string[],
    query: string,
    allowed: SearchOptions["allowed"],
  ): { id: number; score: number }[] {
    const all = [...new Set(analyzeQuery(query))];
    if (all.length === 0) return [];
    const { docs, df } = this.store.termStats(all);
    const idf = new Map(
      all.map((t) => [t, Math.log(1 + (docs - (df.get(t) ?? 0) + 0.5) / ((df.get(t) ?? 0) + 0.5))]),
    );
    // Terms no chunk holds add nothing to find, but still count in the total: a question about something the
    // documents never mention should not look answered by its common words alone.
    const terms = all.sort((a, b) => (idf.get(b) ?? 0) - (idf.get(a) ?? 0)).slice(0, MAX_QUERY_TERMS);
    const total = terms.reduce((sum, t) => sum + (idf.get(t) ?? 0), 0);
    // Candidates are found by the informative terms: a term in a tenth of all chunks ("file", "使用") makes
    // FTS5 rank thousands of rows and finds nothing the others do not; it still counts in the scores below.
    const present = terms.filter((t) => (df.get(t) ?? 0) > 0);
    const rare = present.filter((t) => (df.get(t) ?? 0) <= docs * COMMON_SHARE);
    const hits = this.store
      .lexicalSearch(storeIds, rare.length > 0 ? rare : present, CANDIDATES)
      .filter((h) => !allowed || allowed(h.storeId, h.fileId));
    const termsOf = this.store.chunkTerms(hits.map((h) => h.chunkId));
    // FTS5 finds the candidates; they are scored here by BM25F with Lucene's IDF, which stays positive where
    // FTS5's goes to zero (a term in half of a small store's chunks: a two-file store would score nothing).
    const characters = new Set(terms.filter(isHanCharacter));
    const fields = hits.map((h) => weighted(termsOf.get(h.chunkId), characters));
    const avg = fields.reduce((sum, f) => sum + f.length, 0) / Math.max(1, fields.length) || 1;
    const scored = hits.map((h, i) => {
      const { tf, length } = fields[i] as { tf: Map<string, number>; length: number };
      let bm25 = 0;
      let covered = 0;
      for (const t of terms) {
        const f = tf.get(t) ?? 0;
        if (f === 0) continue;
        const w = idf.get(t) ?? 0;
        covered += w;
        bm25 += (w * f * (K1 + 1)) / (f + K1 * (1 - B + (B * length) / avg));
      }
      return {
        id: h.chunkId,
        file: `${h.storeId}/${h.fileId}`,
        bm25,
        score: lexicalScore(bm25, covered, total),
      };
    });
    const ranks = withFileEvidence(scored);
    scored.sort((a, b) => (ranks.get(b) ?? 0) - (ranks.get(a) ?? 0));
    // Scores are held to at most the one above, so that they fall with rank and a threshold cuts the list once.
    let ceiling = 1;
    return scored.map((r) => {
      ceiling = Math.min(ceiling, r.score);
      return { id: r.id, score: ceiling };
    });
  }

  /** Vector candidates by cosine similarity (vectors are unit length: a dot product), best first. */
  private async vector(
    storeIds: readonly string[],
    query: string,
    options: SearchOptions & { signal?: AbortSignal },
  ): Promise<{ id: number; score: number }[]> {
    const embeddings = this.embeddings as EmbeddingProvider;
    const { vectors } = await embeddings.embed([query], {
      signal: options.signal ?? AbortSignal.timeout(60_000),
    });
    const q = vectors[0] as Float32Array;
    const scored: { id: number; score: number; storeId: string }[] = [];
    for (const storeId of storeIds) {
      const { ids, vectors: stored } = this.vectorsOf(storeId);
      for (let i = 0; i < ids.length; i++) {
        const v = stored[i] as Float32Array;
        let dot = 0;
        for (let j = 0; j < v.length && j < q.length; j++) dot += (v[j] as number) * (q[j] as number);
        scored.push({ id: ids[i] as number, score: Math.max(0, dot), storeId });
      }
    }
    scored.sort((a, b) => b.score - a.score);
    const top = scored.slice(0, CANDIDATES);
    if (!options.allowed) return top;
    const chunks = new Map(this.store.chunks(top.map((t) => t.id)).map((c) => [c.id, c]));
    return top.filter((t) => {
      const chunk = chunks.get(t.id);
      return (
        chunk !== undefined &&
        (options.allowed as NonNullable<SearchOptions["allowed"]>)(t.storeId, chunk.fileId)
      );
    });
  }

  /** A store's vectors, read from the store once per change of its chunks. */
  private vectorsOf(storeId: string): { ids: number[]; vectors: Float32Array[] } {
    const version = this.store.version(storeId);
    const cached = this.cache.get(storeId);
    if (cached && cached.version === version) return cached;
    const { ids, vectors } = this.store.vectors(storeId);
    const entry = { version, ids: [...ids], vectors };
    this.cache.set(storeId, entry);
    return entry;
  }
}

/**
 * Weighted reciprocal rank fusion of the two rankings; each result's score is the weighted mean of its two
 * scores (0 where a ranking did not find it), so a threshold means the same with and without vectors.
 */
function fuse(
  lexical: { id: number; score: number }[],
  vector: { id: number; score: number }[],
  weights: { embeddingWeight: number; textWeight: number },
): { id: number; score: number }[] {
  const merged = new Map<number, { rrf: number; lexical: number; vector: number }>();
  const entry = (id: number) => {
    let e = merged.get(id);
    if (!e) {
      e = { rrf: 0, lexical: 0, vector: 0 };
      merged.set(id, e);
    }
    return e;
  };
  lexical.forEach((r, rank) => {
    const e = entry(r.id);
    e.rrf += weights.textWeight / (RRF_K + rank + 1);
    e.lexical = r.score;
  });
  vector.forEach((r, rank) => {
    const e = entry(r.id);
    e.rrf += weights.embeddingWeight / (RRF_K + rank + 1);
    e.vector = r.score;
  });
  const sum = weights.embeddingWeight + weights.textWeight || 1;
  return [...merged.entries()]
    .sort((a, b) => b[1].rrf - a[1].rrf)
    .map(([id, e]) => ({
      id,
      score: (weights.embeddingWeight * e.vector + weights.textWeight * e.lexical) / sum,
    }));
}
