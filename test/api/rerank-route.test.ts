import assert from "node:assert/strict";
import { test } from "node:test";
import { apiKey } from "../../src/api/security/keys.js";
import { buildServer } from "../../src/api/server.js";
import { type LoadedRerankModel, RerankService } from "../../src/engine/rerank/rerank-service.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { FakeEngine } from "../helpers/fake-engine.js";

// The /v1/rerank route in-process (Fastify inject), with a stand-in reranker: what the edge decides before
// any engine runs (configuration, loading, model name, order, top_n, keys, shutdown).

/** Scores a document by the share of its characters found in the query; one token per character. */
class FakeReranker implements LoadedRerankModel {
  readonly info = { id: "fake-rerank", created: 1, ownedBy: "edgellm", contextSize: 64, maxInputTokens: 63 };
  disposed = false;
  async rank(query: string, documents: readonly string[]) {
    return {
      scores: documents.map((d) => [...d].filter((c) => query.includes(c)).length / Math.max(1, d.length)),
      promptTokens: documents.reduce((sum, d) => sum + query.length + d.length, 0),
    };
  }
  async dispose() {
    this.disposed = true;
  }
}

async function setup(reranker?: RerankService, security?: Parameters<typeof buildServer>[0]["security"]) {
  const scheduler = new Scheduler({});
  scheduler.attach(new FakeEngine());
  const app = await buildServer({ provider: scheduler, reranker, security });
  const rerank = (body: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: "POST", url: "/v1/rerank", payload: body as object, headers });
  return { app, rerank };
}

test("without a reranker: 400 rerank_not_configured saying how to set one, whatever the body", async () => {
  const { rerank } = await setup();
  for (const body of [{ query: "q", documents: ["a"] }, {}]) {
    const res = await rerank(body);
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, "rerank_not_configured");
    assert.match(res.json().error.message, /--rerank-model REF\|FILE/);
  }
});

test("while the reranker loads: /health and the route answer 503; then documents come back best first", async () => {
  const service = new RerankService();
  const { app, rerank } = await setup(service);
  assert.equal((await app.inject("/health")).statusCode, 503);
  assert.equal((await rerank({ query: "q", documents: ["a"] })).json().error.code, "model_loading");
  service.attach(new FakeReranker());
  assert.equal((await app.inject("/health")).statusCode, 200);
  const ids = (await app.inject("/v1/models")).json().data.map((m: { id: string }) => m.id);
  assert.deepEqual(ids, ["fake-model", "fake-rerank"]);

  const res = await rerank({ query: "abc", documents: ["xyz", "abc", "axx", { text: "abx" }], top_n: 3 });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.deepEqual(
    body.results.map((r: { index: number; relevance_score: number }) => [r.index, r.relevance_score]),
    [
      [1, 1],
      [3, 2 / 3],
      [2, 1 / 3],
    ],
  );
  assert.equal(body.results[1].document.text, "abx");
  assert.deepEqual(body.usage, { prompt_tokens: 24, total_tokens: 24 });
  assert.equal(body.model, "fake-rerank");
  // Ties keep the documents' order; without the /v1 prefix too.
  const tied = await app.inject({
    method: "POST",
    url: "/rerank",
    payload: { query: "q", documents: ["a", "b"] },
  });
  assert.deepEqual(
    tied.json().results.map((r: { index: number }) => r.index),
    [0, 1],
  );
  assert.equal((await rerank({ query: "q", documents: ["a"], model: "fake-model" })).statusCode, 404);
});

test("a key is needed, and reranked tokens count against its tokens per day; a shutdown frees the model", async () => {
  const service = new RerankService();
  const model = new FakeReranker();
  service.attach(model);
  const key = "sk-test-rerank";
  const { rerank } = await setup(service, { keys: [apiKey(key, { label: "rr", tpd: 10 })] });
  assert.equal((await rerank({ query: "q", documents: ["a"] })).json().error.code, "invalid_api_key");
  const auth = { authorization: `Bearer ${key}` };
  assert.equal((await rerank({ query: "query", documents: ["document"] }, auth)).statusCode, 200);
  const over = await rerank({ query: "q", documents: ["a"] }, auth);
  assert.equal(over.statusCode, 429);
  const open = await setup(service);
  service.drain();
  assert.equal((await open.rerank({ query: "q", documents: ["a"] })).json().error.code, "shutting_down");
  await service.close();
  assert.equal(model.disposed, true);
});
