import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { buildServer } from "../../src/api/server.js";
import { modelAliasList, resolveModelAlias } from "../../src/config/model-aliases.js";
import { resolveSettings } from "../../src/config/resolve.js";
import { ConfigError, ParseError } from "../../src/config/setting.js";
import { ModelNotFoundError } from "../../src/provider/errors.js";
import { resolveRoutingConfig } from "../../src/router/config.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { chat, collect, routerFor } from "./harness.js";

// Clients and tools that send OpenAI's model names (gpt-4o, gpt-3.5-turbo) unchanged work through aliases.

test("--model-alias FROM=TO and EDGELLM_MODEL_ALIAS parse to pairs; anything else is refused", () => {
  assert.deepEqual(modelAliasList("gpt-4o=local"), [["gpt-4o", "local"]]);
  assert.deepEqual(modelAliasList(" gpt-4o = local , gpt-4=cloud,"), [
    ["gpt-4o", "local"],
    ["gpt-4", "cloud"],
  ]);
  for (const bad of ["gpt-4o", "=local", "gpt-4o=", "a=b=c"])
    assert.throws(() => modelAliasList(bad), ParseError);
  const aliases = new Map([["gpt-4o", "local"]]);
  assert.equal(resolveModelAlias(aliases, "gpt-4o"), "local");
  assert.equal(resolveModelAlias(aliases, "other"), "other");
  assert.equal(resolveModelAlias(aliases, undefined), undefined);
});

test("the setting reads repeated flags and the comma-separated variable", () => {
  const fromEnv = resolveSettings(
    ["modelAlias"],
    {},
    { EDGELLM_MODEL_ALIAS: "gpt-4o=local,gpt-3.5-turbo=local" },
  );
  assert.deepEqual(fromEnv.values.modelAlias, [
    ["gpt-4o", "local"],
    ["gpt-3.5-turbo", "local"],
  ]);
  const fromFlags = resolveSettings(["modelAlias"], { modelAlias: ["gpt-4o=local", "gpt-4=cloud"] }, {});
  assert.deepEqual(fromFlags.values.modelAlias, [
    ["gpt-4o", "local"],
    ["gpt-4", "cloud"],
  ]);
  assert.throws(
    () => resolveSettings(["modelAlias"], { modelAlias: "gpt-4o" }, {}),
    /--model-alias must be FROM=TO/,
  );
});

test("the config file's modelAliases, under flags; an alias may not hide a served name", () => {
  const config = resolveRoutingConfig(
    {
      modelAliases: { "gpt-4o": "cloud", "gpt-4": "cloud" },
      upstreams: { cloud: { baseUrl: "http://x/v1" } },
    },
    { settings: { modelAlias: [["gpt-4o", "local"]] } },
  );
  assert.deepEqual(
    [...config.aliases],
    [
      ["gpt-4o", "local"],
      ["gpt-4", "cloud"],
    ],
  );
  assert.throws(() => resolveRoutingConfig({ modelAliases: { local: "cloud" } }, {}), ConfigError);
  assert.throws(
    () =>
      resolveRoutingConfig(
        {},
        { upstreams: ["cloud=http://x/v1"], settings: { modelAlias: [["cloud", "local"]] } },
      ),
    ConfigError,
  );
});

let cloud: FakeUpstream;
before(async () => {
  cloud = await new FakeUpstream().start();
});
after(() => cloud.stop());

test("an alias resolves to its target, is listed with alias_of, and the response names the model that answered", async () => {
  cloud.script = [{ kind: "ok", text: "from the cloud" }];
  const { router } = routerFor({
    upstreams: { cloud: { baseUrl: cloud.url, retries: 0, model: "big-model", contextSize: 8192 } },
    modelAliases: { "gpt-4o": "local", "gpt-4": "big-model", "gpt-3.5-turbo": "nowhere" },
  });
  assert.equal(router.resolveModel("gpt-4o"), "fake-model");
  assert.equal(router.resolveModel("gpt-4"), "cloud");
  assert.throws(() => router.resolveModel("gpt-3.5-turbo"), ModelNotFoundError);
  const viaAlias = await collect(router, chat(router.resolveModel("gpt-4"), "hi"));
  assert.equal(viaAlias.meta.route, "cloud");
  assert.equal(viaAlias.text, "from the cloud");

  const app = await buildServer({ provider: router });
  const models = (await app.inject({ method: "GET", url: "/v1/models" })).json().data;
  const byId = new Map(models.map((m: { id: string }) => [m.id, m]));
  assert.deepEqual(byId.get("gpt-4o"), {
    id: "gpt-4o",
    object: "model",
    created: (byId.get("fake-model") as { created: number }).created,
    owned_by: "edgellm",
    meta: { context_size: 4096, alias_of: "fake-model", roles: ["chat"] },
  });
  assert.deepEqual((byId.get("gpt-4") as { meta: object }).meta, {
    context_size: 8192,
    alias_of: "cloud",
    roles: ["chat"],
  });
  assert.equal(byId.has("gpt-3.5-turbo"), false, "an alias to nothing served is not listed");
  const one = await app.inject({ method: "GET", url: "/v1/models/gpt-4o" });
  assert.equal(one.json().id, "gpt-4o");

  const res = await app.inject({
    method: "POST",
    url: "/v1/chat/completions",
    payload: { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] },
  });
  assert.equal(res.statusCode, 200, res.body);
  // As OpenAI does (gpt-4o answers as gpt-4o-2024-08-06): the model that answered, not the name asked for.
  assert.equal(res.json().model, "fake-model");
  const missing = await app.inject({
    method: "POST",
    url: "/v1/chat/completions",
    payload: { model: "gpt-3.5-turbo", messages: [{ role: "user", content: "hi" }] },
  });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().error.code, "model_not_found");
  await app.close();
  router.dispose();
});
