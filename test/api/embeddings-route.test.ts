import assert from "node:assert/strict";
import { test } from "node:test";
import { apiKey } from "../../src/api/security/keys.js";
import { buildServer } from "../../src/api/server.js";
import {
  EmbeddingService,
  type LoadedEmbeddingModel,
} from "../../src/engine/embeddings/embedding-service.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { FakeEngine } from "../helpers/fake-engine.js";

// The /v1/embeddings route in-process (Fastify inject), with a stand-in embedding model: what the edge
// decides before any engine runs (configuration, loading, model name, shutdown).

/** Vectors of [length, 1] per text, not normalized; counts one token per character. */
class FakeEmbeddingModel implements LoadedEmbeddingModel {
  readonly info = {
    id: "fake-embed",
    created: 1,
    ownedBy: "edgellm",
    contextSize: 64,
    dimensions: 2,
    maxInputTokens: 63,
  };
  disposed = false;
  async embed(inputs: readonly (string | readonly number[])[]) {
    return {
      vectors: inputs.map((input) => new Float32Array([input.length, 1])),
      promptTokens: inputs.reduce((sum, input) => sum + input.length, 0),
    };
  }
  async dispose() {
    this.disposed = true;
  }
}

async function setup(embeddings?: EmbeddingService, modelAliases?: Map<string, string>) {
  const scheduler = new Scheduler({});
  scheduler.attach(new FakeEngine());
  const app = await buildServer({ provider: scheduler, embeddings, modelAliases });
  const embed = (body: unknown) =>
    app.inject({ method: "POST", url: "/v1/embeddings", payload: body as object });
  return { app, embed };
}

test("without an embedding model: 400 embeddings_not_configured saying how to set one, whatever the body", async () => {
  const { embed } = await setup();
  for (const body of [{ input: "hi", model: "text-embedding-3-small" }, {}, { input: "" }]) {
    const res = await embed(body);
    assert.equal(res.statusCode, 400);
    const { error } = res.json();
    assert.equal(error.code, "embeddings_not_configured");
    assert.equal(error.type, "invalid_request_error");
    assert.match(error.message, /--embedding-model REF\|FILE/);
    assert.match(error.message, /EDGELLM_EMBEDDING_MODEL/);
  }
});

test("while the embedding model loads: /health and the route answer 503, then both serve", async () => {
  const service = new EmbeddingService();
  const { app, embed } = await setup(service);
  assert.equal((await app.inject("/health")).statusCode, 503);
  const loading = await embed({ input: "hi" });
  assert.equal(loading.statusCode, 503);
  assert.equal(loading.json().error.code, "model_loading");
  assert.equal(loading.headers["retry-after"], "1");

  service.attach(new FakeEmbeddingModel());
  assert.equal((await app.inject("/health")).statusCode, 200);
  const models = (await app.inject("/v1/models")).json().data;
  assert.deepEqual(
    models.map((m: { id: string }) => m.id),
    ["fake-model", "fake-embed"],
  );
  assert.equal(models[1].meta.embedding_dimensions, 2);
  assert.equal((await app.inject("/v1/models/fake-embed")).json().id, "fake-embed");

  const res = await embed({ input: ["abc", "de"], model: "fake-embed" });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.deepEqual(
    body.data.map((d: { index: number; embedding: number[] }) => [d.index, d.embedding]),
    [
      [0, [3, 1]],
      [1, [2, 1]],
    ],
  );
  assert.deepEqual(body.usage, { prompt_tokens: 5, total_tokens: 5 });
  assert.equal(body.model, "fake-embed");
  // Also without the /v1 prefix, and with no model named.
  assert.equal(
    (await app.inject({ method: "POST", url: "/embeddings", payload: { input: "x" } })).statusCode,
    200,
  );
});

test("a model that is not the embedding model is a 404 model_not_found, as for chat", async () => {
  const service = new EmbeddingService();
  service.attach(new FakeEmbeddingModel());
  const { embed } = await setup(service);
  const res = await embed({ input: "hi", model: "fake-model" });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().error.code, "model_not_found");
  assert.equal(res.json().error.param, "model");
});

test("a --model-alias naming the embedding model is served and listed as an alias of it", async () => {
  const service = new EmbeddingService();
  service.attach(new FakeEmbeddingModel());
  const { app, embed } = await setup(service, new Map([["text-embedding-3-small", "fake-embed"]]));
  const res = await embed({ input: "hi", model: "text-embedding-3-small" });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json().model, "fake-embed");
  const listed = (await app.inject({ method: "GET", url: "/v1/models" })).json().data;
  const alias = listed.find((m: { id: string }) => m.id === "text-embedding-3-small");
  assert.equal(alias?.meta?.alias_of, "fake-embed");
  assert.equal(alias?.meta?.embedding_dimensions, 2);
});

test("a failed embedding model fails /health; a shutdown refuses new requests and frees the model", async () => {
  const failed = new EmbeddingService();
  failed.fail(new Error("no such file"));
  const broken = await setup(failed);
  assert.equal((await broken.app.inject("/health")).json().error.code, "model_load_failed");

  const service = new EmbeddingService();
  const model = new FakeEmbeddingModel();
  service.attach(model);
  const { embed } = await setup(service);
  service.drain();
  const res = await embed({ input: "hi" });
  assert.equal(res.statusCode, 503);
  assert.equal(res.json().error.code, "shutting_down");
  await service.close();
  assert.equal(model.disposed, true);
});

test("with API keys: a key is needed, and embedded tokens count against its tokens per day", async () => {
  const service = new EmbeddingService();
  service.attach(new FakeEmbeddingModel());
  const scheduler = new Scheduler({});
  scheduler.attach(new FakeEngine());
  const key = "sk-test-embeddings";
  const app = await buildServer({
    provider: scheduler,
    embeddings: service,
    security: { keys: [apiKey(key, { label: "emb", tpd: 10 })] },
  });
  const embed = (input: string, auth = true) =>
    app.inject({
      method: "POST",
      url: "/v1/embeddings",
      payload: { input },
      headers: auth ? { authorization: `Bearer ${key}` } : {},
    });
  assert.equal((await embed("hi", false)).json().error.code, "invalid_api_key");
  assert.equal((await embed("twelve chars")).statusCode, 200);
  const over = await embed("hi");
  assert.equal(over.statusCode, 429);
  assert.equal(over.json().error.code, "rate_limit_exceeded");
  assert.equal(over.json().error.type, "tokens");
});

test("one file as chat and embedding model is one /v1/models entry with both roles and the dimensions", async () => {
  const service = new EmbeddingService();
  const model = new FakeEmbeddingModel();
  Object.assign(model.info, { id: "fake-model" });
  service.attach(model);
  const { app, embed } = await setup(service);
  const listed = (await app.inject("/v1/models")).json().data;
  assert.equal(listed.length, 1, JSON.stringify(listed));
  assert.deepEqual(listed[0].meta.roles, ["chat", "embeddings"]);
  assert.equal(listed[0].meta.embedding_dimensions, 2);
  assert.equal((await embed({ input: "hi", model: "fake-model" })).statusCode, 200);
});

test("naming the chat model for embeddings says which model serves them and how to alias a name to it", async () => {
  const service = new EmbeddingService();
  service.attach(new FakeEmbeddingModel());
  const { app, embed } = await setup(service);
  const res = await embed({ input: "hi", model: "local" });
  assert.equal(res.statusCode, 404);
  const { message } = res.json().error;
  assert.match(message, /'local' does not serve embeddings here; 'fake-embed' does/);
  assert.match(message, /--model-alias local=fake-embed/);
  const roles = (await app.inject("/v1/models"))
    .json()
    .data.map((m: { meta: { roles: string[] } }) => m.meta.roles);
  assert.deepEqual(roles, [["chat"], ["embeddings"]]);
});
