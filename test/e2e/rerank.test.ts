import assert from "node:assert/strict";
import { test } from "node:test";
import type OpenAI from "openai";
import { toFile } from "openai";
import { serverFixture, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath, tinyRerankerPath } from "../helpers/tiny-model.js";

// POST /v1/rerank and reranked knowledge-base search through the real server, on whichever engine the run
// uses, with the tiny synthetic Qwen3-Reranker (random weights: its scores are noise, so what is asserted is
// the machinery: shape, order, stability, limits, and that search results carry the reranker's scores).

const RERANKER_ID = "tiny-reranker-q8_0-seed42-v1";
const CONTEXT = 256;
const e2e = serverFixture(async () => [
  "--rerank-model",
  await tinyRerankerPath(),
  "--parallel",
  "2",
  "--ctx-size",
  String(CONTEXT),
]);

interface Ranked {
  id: string;
  object: string;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
  results: { index: number; relevance_score: number; document?: { text: string } }[];
  error?: { code: string; param: string | null; message: string; type: string };
}

async function rerank(body: object, path = "/v1/rerank"): Promise<{ status: number; json: Ranked }> {
  const res = await fetch(`${e2e.server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Ranked };
}

const DOCUMENTS = [
  "Vue 是一个用于构建用户界面的框架。",
  "tar archives files into one.",
  "退货期限是七天。",
  "a",
];

test("documents come back best first with their index, score, text and usage, in the shape llama-server, vLLM and Jina use", async () => {
  const { status, json } = await rerank({ model: RERANKER_ID, query: "什么是 Vue?", documents: DOCUMENTS });
  assert.equal(status, 200, JSON.stringify(json));
  assert.equal(json.object, "list");
  assert.equal(json.model, RERANKER_ID);
  assert.match(json.id, /^rerank-/);
  assert.deepEqual(json.results.map((r) => r.index).sort(), [0, 1, 2, 3]);
  for (const r of json.results) {
    assert.ok(r.relevance_score > 0 && r.relevance_score < 1, `a probability: ${r.relevance_score}`);
    assert.equal(r.document?.text, DOCUMENTS[r.index]);
  }
  const scores = json.results.map((r) => r.relevance_score);
  assert.deepEqual(
    scores,
    [...scores].sort((a, b) => b - a),
  );
  assert.ok(json.usage.prompt_tokens > 4 * 40, "each pair holds the reranker's template");
  assert.equal(json.usage.total_tokens, json.usage.prompt_tokens);
  // A document's score does not depend on the others beside it, and /rerank is the same route.
  const alone = await rerank({ query: "什么是 Vue?", documents: [DOCUMENTS[2]] }, "/rerank");
  assert.equal(alone.status, 200, JSON.stringify(alone.json));
  const before = json.results.find((r) => r.index === 2)?.relevance_score as number;
  assert.ok(Math.abs((alone.json.results[0]?.relevance_score as number) - before) < 1e-3);
});

test("top_n keeps the best; return_documents false leaves the texts out; documents may be {text} objects", async () => {
  const full = await rerank({ query: "tar", documents: DOCUMENTS });
  const { status, json } = await rerank({
    query: "tar",
    documents: DOCUMENTS.map((text) => ({ text })),
    top_n: 2,
    return_documents: false,
  });
  assert.equal(status, 200, JSON.stringify(json));
  assert.deepEqual(
    json.results.map((r) => r.index),
    full.json.results.slice(0, 2).map((r) => r.index),
  );
  assert.ok(json.results.every((r) => r.document === undefined));
});

test("a control token's text in a document is read as plain text, never as the template's token", async () => {
  const plain = await rerank({ query: "q", documents: ["x"] });
  const marker = await rerank({ query: "q", documents: ["x<|im_end|>"] });
  assert.equal(marker.status, 200, JSON.stringify(marker.json));
  // `<|im_end|>` as text is several tokens; as the control token it would be one.
  assert.ok(
    marker.json.usage.prompt_tokens - plain.json.usage.prompt_tokens > 2,
    JSON.stringify(marker.json.usage),
  );
});

test("bad input gets a clear error in OpenAI's shape with the parameter named", async () => {
  const cases: [object, number, string, string | null][] = [
    [{ query: "", documents: ["a"] }, 400, "invalid_value", "query"],
    [{ query: "q", documents: [] }, 400, "invalid_value", "documents"],
    [{ query: "q" }, 400, "missing_required_parameter", "documents"],
    [{ query: "q", documents: [1] }, 400, "invalid_type", "documents[0]"],
    [{ query: "q", documents: ["a"], top_n: 0 }, 400, "invalid_value", "top_n"],
    [{ query: "q", documents: ["a"], model: "gpt-4o" }, 404, "model_not_found", "model"],
    [{ query: "q", documents: ["a", "word ".repeat(600)] }, 400, "context_length_exceeded", "documents"],
  ];
  for (const [body, status, code, param] of cases) {
    const { status: got, json } = await rerank(body);
    assert.equal(got, status, `${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(json)}`);
    assert.equal(json.error?.code, code, JSON.stringify(json));
    if (code !== "model_not_found") assert.equal(json.error?.param, param, JSON.stringify(json));
  }
  const tooLong = await rerank({ query: "q", documents: ["a", "word ".repeat(600)] });
  assert.match(tooLong.json.error?.message ?? "", /documents\[1\]/);
});

test("the reranker is listed among the models", async () => {
  const ids = (await e2e.client.models.list()).data.map((m) => m.id);
  assert.ok(ids.includes(RERANKER_ID), ids.join(", "));
});

test("knowledge-base search reorders its best results by the reranker's scores; ranker none leaves them lexical", async () => {
  const text = [
    "# 退货政策",
    "## 退货期限",
    "商品签收后七天内可以无理由退货。",
    "## 运费",
    "退货运费由买家承担，质量问题除外。",
    "## Shipping",
    "Orders ship within two business days.",
  ].join("\n\n");
  const file = await e2e.client.files.create({
    file: await toFile(Buffer.from(text), "policy.md"),
    purpose: "assistants",
  });
  const store = await completedStore(e2e.client, {
    name: "policy",
    file_ids: [file.id],
    chunking_strategy: { type: "static", static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 0 } },
  });
  assert.equal(store.status, "completed");
  const query = "退货 运费 七天";
  const reranked = await e2e.client.vectorStores.search(store.id, { query });
  const lexical = await e2e.client.vectorStores.search(store.id, {
    query,
    ranking_options: { ranker: "none" },
  });
  assert.ok(reranked.data.length >= 2, JSON.stringify(reranked.data));
  assert.equal(reranked.data.length, lexical.data.length);
  // Each result's score is what /v1/rerank gives its chunk (heading path and text) for the query.
  const chunks = await e2e.client.vectorStores.files.content(file.id, { vector_store_id: store.id });
  const byText = new Map<string, string>();
  for await (const c of chunks) {
    const chunk = c as unknown as { text: string; heading_path?: string[] };
    byText.set(chunk.text, [...(chunk.heading_path ?? []), chunk.text].join("\n"));
  }
  const docs = reranked.data.map(
    (r) => byText.get(r.content[0]?.text ?? "") ?? assert.fail("an unknown chunk"),
  );
  const direct = await rerank({ query, documents: docs });
  assert.equal(direct.status, 200, JSON.stringify(direct.json));
  for (const r of direct.json.results)
    assert.ok(Math.abs((reranked.data[r.index]?.score as number) - r.relevance_score) < 1e-3);
  const scores = reranked.data.map((r) => r.score);
  assert.deepEqual(
    scores,
    [...scores].sort((a, b) => b - a),
  );
  // The lexical order and scores are BM25's, not the reranker's.
  assert.notDeepEqual(
    lexical.data.map((r) => r.score),
    scores,
  );
  const bad = await fetch(`${e2e.server.url}/v1/vector_stores/${store.id}/search`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, ranking_options: { ranker: "fastest" } }),
  });
  assert.equal(bad.status, 400);
});

test("a chat model given as the reranker stops the server, saying it is not a reranker", async () => {
  const bad = await startServerProcess(
    ["--model", await tinyModelPath(), "--rerank-model", await tinyModelPath(), "--threads", "1"],
    {},
    { ready: false },
  );
  const { code } = await bad.exited;
  assert.equal(code, 1);
  assert.match(bad.output(), /the reranker: .*is not a reranker/);
});

async function completedStore(openai: OpenAI, body: OpenAI.VectorStores.VectorStoreCreateParams) {
  const store = await openai.vectorStores.create(body);
  for (let i = 0; i < 600; i++) {
    const now = await openai.vectorStores.retrieve(store.id);
    if (now.status !== "in_progress") return now;
    await new Promise((r) => setTimeout(r, 100));
  }
  return assert.fail("the vector store never completed");
}
