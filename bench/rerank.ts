/**
 * `npm run bench:rerank`: the reranker (`--rerank-model`) on the 0.6B-shape synthetic Qwen3-Reranker (random
 * weights: speed equals the real model's, scores are noise). Measures POST /v1/rerank against standalone
 * llama-server's own /v1/rerank on the same model, documents and slots, in one run, and what reranking adds to
 * a knowledge-base search over real documents. Writes its section of docs/benchmarks.md.
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI, { toFile } from "openai";
import { findLlamaServer } from "../src/engine/binary/find.js";
import { edgellmHome } from "../src/models/registry.js";
import { SYNTH_FORMAT_VERSION, synthesizeModel } from "../src/models/synth.js";
import { startServerProcess } from "../test/helpers/server-process.js";
import { tinyModelPath } from "../test/helpers/tiny-model.js";
import { startLlamaServer } from "./engines.js";
import { percentile } from "./http.js";
import { runLine, writeSection } from "./section.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const CORPUS = path.resolve(root, "../shared/kb-corpus");
const SLOTS = 4;
/** Tokens per slot: a chunk of the default size, the query and the template fit. */
const CTX = 1024;
const DOCUMENTS = 10;
const ROUNDS = 1;
/** Characters of each document: about 250 tokens of Vue's Chinese docs or tldr's English. */
const DOC_CHARS = 400;
const QUERIES = ["如何在组件之间传递数据?", "How do I extract a tar archive?", "计算属性和方法有什么区别?"];

async function reranker(): Promise<string> {
  const file = path.join(
    edgellmHome(),
    "synthetic",
    `qwen3-reranker-0.6b-shape-q8_0-seed42-v${SYNTH_FORMAT_VERSION}.gguf`,
  );
  const ok = await stat(file).then(
    (s) => s.size > 1e8,
    () => false,
  );
  if (!ok) {
    process.stderr.write(`generating ${file}\n`);
    await synthesizeModel({ kind: "reranker", shape: "0.6b", type: "q8_0", out: file, seed: 42 });
  }
  return file;
}

function corpusTexts(prefix: string, count: number): { name: string; text: string }[] {
  return readdirSync(path.join(CORPUS, prefix), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".md"))
    .map((e) => path.join(e.parentPath, e.name))
    .sort()
    .slice(0, count)
    .map((file) => ({ name: path.relative(CORPUS, file), text: readFileSync(file, "utf8") }));
}

async function timeRerank(url: string, documents: string[]): Promise<{ ms: number[]; tokens: number }> {
  const ms: number[] = [];
  let tokens = 0;
  for (let round = 0; round < ROUNDS; round++)
    for (const query of QUERIES) {
      const start = performance.now();
      const res = await fetch(`${url}/v1/rerank`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, documents }),
      });
      const body = (await res.json()) as { usage?: { prompt_tokens?: number }; error?: unknown };
      if (!res.ok) throw new Error(`rerank failed: ${JSON.stringify(body)}`);
      ms.push(performance.now() - start);
      tokens += body.usage?.prompt_tokens ?? 0;
      process.stderr.write(`rerank ${url}: ${Math.round(ms.at(-1) ?? 0)} ms\n`);
    }
  return { ms, tokens };
}

interface Figures {
  direct: { ours: number; peer: number; tokensPerRequest: number; peerTokensPerRequest: number };
  search: { lexical: number; reranked: number; files: number };
}

async function main(): Promise<void> {
  const binary = await findLlamaServer();
  if (!binary)
    throw new Error("no llama-server binary to compare with: run `npx edgellm engine build --native`");
  const gguf = await reranker();
  const documents = [...corpusTexts("vue-docs-zh", 5), ...corpusTexts("tldr-en", 5)].map((d) =>
    d.text.slice(0, DOC_CHARS),
  );
  if (documents.length !== DOCUMENTS) throw new Error("the corpus is missing");
  const home = await mkdtemp(path.join(os.tmpdir(), "edgellm-bench-rerank-"));
  const server = await startServerProcess(
    [
      "--model",
      await tinyModelPath(),
      "--rerank-model",
      gguf,
      "--parallel",
      String(SLOTS),
      "--ctx-size",
      String(CTX),
      "--rerank-candidates",
      String(DOCUMENTS),
    ],
    { EDGELLM_STATE_FILE: path.join(home, "state.sqlite"), EDGELLM_ENGINE: "llama-server" },
  );
  let ours: Awaited<ReturnType<typeof timeRerank>>;
  let search: Figures["search"];
  try {
    await timeRerank(server.url, documents.slice(0, 2)); // warm-up
    ours = await timeRerank(server.url, documents);
    search = await searchLatency(server.url);
  } finally {
    await server.stop();
  }
  const peer = await startLlamaServer(binary.path, gguf, [
    "--reranking",
    "-c",
    String(CTX * SLOTS),
    "-np",
    String(SLOTS),
    "-b",
    String(CTX),
    "-ub",
    String(CTX),
    "--cache-ram",
    "0",
  ]);
  let theirs: Awaited<ReturnType<typeof timeRerank>>;
  try {
    await timeRerank(peer.url, documents.slice(0, 2));
    theirs = await timeRerank(peer.url, documents);
  } finally {
    peer.child.kill();
  }
  const requests = ROUNDS * QUERIES.length;
  const figures: Figures = {
    direct: {
      ours: percentile(ours.ms, 50),
      peer: percentile(theirs.ms, 50),
      tokensPerRequest: Math.round(ours.tokens / requests),
      peerTokensPerRequest: Math.round(theirs.tokens / requests),
    },
    search,
  };
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  await report(figures);
}

/** A store of real documents; the same questions searched with and without the reranker. */
async function searchLatency(url: string): Promise<Figures["search"]> {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 600_000 });
  const files = [...corpusTexts("vue-docs-zh", 60), ...corpusTexts("tldr-en", 60)];
  const ids: string[] = [];
  for (const f of files)
    ids.push(
      (
        await client.files.create({
          file: await toFile(Buffer.from(f.text), path.basename(f.name)),
          purpose: "assistants",
        })
      ).id,
    );
  const store = await client.vectorStores.create({ name: "rerank" });
  await client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: ids }, { pollIntervalMs: 100 });
  const time = async (ranker: "none" | "auto") => {
    const ms: number[] = [];
    for (let round = 0; round < ROUNDS; round++)
      for (const query of QUERIES) {
        const start = performance.now();
        await client.vectorStores.search(store.id, {
          query,
          max_num_results: 5,
          ranking_options: { ranker },
        });
        ms.push(performance.now() - start);
        process.stderr.write(`search (${ranker}): ${Math.round(ms.at(-1) ?? 0)} ms\n`);
      }
    return percentile(ms, 50);
  };
  return { lexical: await time("none"), reranked: await time("auto"), files: files.length };
}

function round(n: number, digits = 0): string {
  return n.toFixed(digits);
}

async function report(f: Figures): Promise<void> {
  await writeSection("rerank", [
    "## Reranker",
    "",
    `${runLine()}, ` +
      "`npm run bench:rerank`, the 0.6B-shape synthetic Qwen3-Reranker (Q8_0; speed equals the real model's, " +
      `scores are noise), llama-server engine, ${SLOTS} slots of ${CTX} tokens. Each request: a question and ${DOCUMENTS} ` +
      `passages of ${DOC_CHARS} characters from the shared corpus (5 Vue docs in Chinese, 5 tldr pages in English), ` +
      `${QUERIES.length} questions, ${ROUNDS} time(s) each.`,
    "",
    "| measure | edgellm | standalone llama-server | ratio |",
    "|---|---|---|---|",
    `| \`POST /v1/rerank\`, ${DOCUMENTS} documents, p50 | ${round(f.direct.ours)} ms (${f.direct.tokensPerRequest} tokens) | ${round(f.direct.peer)} ms (${f.direct.peerTokensPerRequest} tokens) | ${round(f.direct.ours / f.direct.peer, 2)}× |`,
    "",
    `Knowledge-base search over ${f.search.files} documents, 5 results, p50: ${round(f.search.lexical)} ms with ` +
      `\`ranker: "none"\` (BM25 only), ${round(f.search.reranked)} ms reranking the best ${DOCUMENTS} ` +
      "(`--rerank-candidates`): the reranker is the search's cost on a CPU.",
  ]);
}

await main();
