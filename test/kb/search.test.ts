import assert from "node:assert/strict";
import { test } from "node:test";
import { Searcher, withFileEvidence } from "../../src/kb/search.js";
import { SqliteKbStore } from "../../src/store/sqlite-kb-store.js";
import { chunkInput, storeFileRecord } from "../helpers/kb-chunks.js";

/** A store "vs_a" holding each file's sections, one chunk a section, indexed as ingestion does. */
function storeOf(files: Record<string, { heading?: string; text: string }[]>): SqliteKbStore {
  const kb = SqliteKbStore.inMemory();
  kb.putStore({
    id: "vs_a",
    owner: null,
    name: "a",
    createdAt: 1,
    lastActiveAt: 1,
    metadata: {},
    expiresAfter: null,
    embeddingModel: null,
  });
  for (const [fileId, sections] of Object.entries(files)) {
    kb.putStoreFiles([storeFileRecord("vs_a", fileId)]);
    kb.completeStoreFile(
      "vs_a",
      fileId,
      sections.map(({ heading, text }) => chunkInput(text, heading ? [heading] : [])),
    );
  }
  return kb;
}

async function rankedFiles(kb: SqliteKbStore, query: string): Promise<string[]> {
  const hits = await new Searcher(kb, undefined).search(["vs_a"], query, { maxResults: 10 }, false);
  return hits.map((h) => h.chunk.fileId);
}

/** Files that share none of the tests' query words, so that those words are rare, as in a real store. */
const FILLER = Object.fromEntries(
  Array.from({ length: 20 }, (_, i) => [
    `filler-${i}`,
    [{ text: `unrelated page number ${i} about gardening` }],
  ]),
);

test("a chunk's ranking adds the best other chunk of its file; its own score decides between a file's chunks", () => {
  const chunks = [
    { file: "x", bm25: 1 },
    { file: "x", bm25: 0.5 },
    { file: "y", bm25: 1.05 },
    { file: "z", bm25: 0.7 },
    { file: "z", bm25: 0.7 },
  ];
  const ranks = withFileEvidence(chunks);
  const [x1, x2, y, z1, z2] = chunks.map((c) => ranks.get(c) ?? Number.NaN);
  assert.ok(Math.abs((x1 as number) - 1.075) < 1e-9, String(x1));
  assert.ok(Math.abs((x2 as number) - 0.65) < 1e-9, String(x2));
  assert.equal(y, 1.05, "a file's only chunk keeps its own");
  assert.ok(Math.abs((z1 as number) - 0.805) < 1e-9 && z1 === z2, "two equal chunks count each other");
});

test("a page with several sections on the question outranks one passage that shares slightly more of it", async () => {
  const kb = storeOf({
    ...FILLER,
    // One passage with both words, and nothing else on them.
    passing: [
      {
        text: "The release notes mention that the scheduler timeout changed in version two of the tool and its docs.",
      },
    ],
    // The page about it: each section holds one of the words, twice; either alone ranks below the passage.
    topic: [
      { heading: "Basics", text: "The scheduler runs jobs; the scheduler queue orders them." },
      { heading: "Limits", text: "A timeout ends a long job; the default timeout is a minute." },
    ],
  });
  const files = await rankedFiles(kb, "scheduler timeout");
  assert.equal(files[0], "topic", files.join(" "));
});

// With BM25's usual K1 (1.2) the heading's weight saturates and the mention ranks first.
test("a word in a section's heading and text outranks a chunk that has it once beside a commoner word", async () => {
  const kb = storeOf({
    ...FILLER,
    ...Object.fromEntries(
      Array.from({ length: 4 }, (_, i) => [`common-${i}`, [{ text: `install step ${i}` }]]),
    ),
    // The word once, with the common word: more of the query, weakly.
    mention: [{ text: "Before you install anything, clear the cache directory once." }],
    // The section about the word: in its heading and its text.
    section: [{ heading: "Cache", text: "The cache keeps compiled results between runs." }],
  });
  const files = await rankedFiles(kb, "how to install the cache");
  assert.equal(files[0], "section", files.join(" "));
});

// ICU splits a question's words its dictionary lacks into characters ("值|算|出来"); documents say "计算".
test("a question's single Chinese character finds the words it is part of", async () => {
  const kb = storeOf({
    ...FILLER,
    computed: [{ text: "计算属性会缓存结果，依赖变化时重新计算。" }],
    unrelated: [{ text: "列表渲染会复用元素。" }],
  });
  assert.deepEqual(await rankedFiles(kb, "值是怎么算出来的"), ["computed"]);
});

test("a character inside a word counts for less than the character alone", async () => {
  const kb = storeOf({
    ...FILLER,
    inside: [{ text: "计算一下这里的结果" }],
    alone: [{ text: "这里的结果要算一下" }],
  });
  assert.deepEqual(await rankedFiles(kb, "结果怎么算"), ["alone", "inside"]);
});
