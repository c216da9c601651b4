import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { listedModels } from "../../src/router/model-check.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { routerFor } from "./harness.js";

// /v1/models reports an upstream's real context window when the upstream's own model list says it.

test("the context window is read from each server's model list, leniently", () => {
  const list = (entry: Record<string, unknown>) => listedModels({ data: [{ id: "m", ...entry }] })[0];
  assert.equal(list({ max_model_len: 4096 }).contextSize, 4096, "vLLM");
  assert.equal(list({ context_length: 131072 }).contextSize, 131072, "OpenRouter");
  assert.equal(list({ max_context_length: 8192 }).contextSize, 8192, "LM Studio");
  assert.equal(
    list({ meta: { n_ctx_train: 32768, n_ctx: 4096 } }).contextSize,
    4096,
    "llama-server: served size first",
  );
  assert.equal(list({ meta: { n_ctx_train: 32768 } }).contextSize, 32768, "llama-server, training size");
  assert.equal(list({ meta: { context_size: 2048 } }).contextSize, 2048, "edgellm");
  for (const odd of [
    {},
    { max_model_len: "4096" },
    { context_length: -1 },
    { meta: "x" },
    { meta: { n_ctx: 1.5 } },
  ])
    assert.equal(list(odd).contextSize, undefined, JSON.stringify(odd));
  assert.throws(() => listedModels({ object: "list" }), TypeError);
});

let upstream: FakeUpstream;
before(async () => {
  upstream = await new FakeUpstream().start();
  upstream.models = ["small-model"];
  upstream.modelFields = { max_model_len: 4096 };
});
after(() => upstream.stop());

test("/v1/models reports the upstream's own context, unless the config sets one", async () => {
  const contextOf = async (config: Record<string, unknown>) => {
    const { router } = routerFor({
      upstreams: { cloud: { baseUrl: upstream.url, model: "small-model", ...config } },
    });
    await router.upstream("cloud")?.checkModels();
    const size = router.listModels().find((m) => m.id === "cloud")?.contextSize;
    router.dispose();
    return size;
  };
  assert.equal(await contextOf({}), 4096);
  assert.equal(await contextOf({ contextSize: 2048 }), 2048);
  upstream.modelFields = {};
  assert.equal(await contextOf({}), 32768, "nothing reported: the default");
});
