/**
 * Prints the plain BM25 baseline's recall@1, recall@5 and MRR on bench/kb-questions.json (JSON).
 * Run: node dist/bench/kb-baseline-main.js [CORPUS_DIR] [QUESTIONS.json]
 * (defaults: /work/shared/kb-corpus and the repository's bench/kb-questions.json)
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { baselineSearch } from "./kb-baseline.js";
import { type LangFigures, loadQuestions, scoreRanking } from "./kb-eval.js";

const corpusDir = process.argv[2] ?? "/work/shared/kb-corpus";
const questionsFile =
  process.argv[3] ?? fileURLToPath(new URL("../../bench/kb-questions.json", import.meta.url));

const questions = loadQuestions(questionsFile);
const absent = questions.flatMap((q) => q.answers.filter((a) => !existsSync(path.join(corpusDir, a))));
if (absent.length > 0) throw new Error(`answer files not in ${corpusDir}: ${absent.join(", ")}`);

const started = performance.now();
const hits = baselineSearch(corpusDir, questions);
const seconds = (performance.now() - started) / 1000;
const scores = scoreRanking(
  questions,
  hits.map((list) => list.map((h) => h.file)),
  hits.map((list) => list[0]?.score ?? null),
);
const round = (x: number) => Math.round(x * 1000) / 1000;
const rounded = (groups: Record<string, LangFigures | undefined>) =>
  Object.fromEntries(
    Object.entries(groups).flatMap(([name, f]) =>
      f
        ? [[name, { ...f, recallAt1: round(f.recallAt1), recallAt5: round(f.recallAt5), mrr: round(f.mrr) }]]
        : [],
    ),
  );
console.log(
  JSON.stringify(
    {
      questions: questions.length,
      answerable: scores.questions,
      recallAt1: round(scores.recallAt1),
      recallAt5: round(scores.recallAt5),
      mrr: round(scores.mrr),
      byLang: rounded(scores.byLang),
      byKind: rounded(scores.byKind),
      misses: scores.misses,
      noAnswer: scores.noAnswer,
      answerableTopScores: scores.answerableTopScores,
      seconds: round(seconds),
    },
    null,
    2,
  ),
);
