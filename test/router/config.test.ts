import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  ConfigError,
  describeRouting,
  loadRoutingConfig,
  resolveRoutingConfig,
} from "../../src/router/config.js";

test("file, environment and flags merge in rising precedence", async () => {
  const dir = await mkdtemp(join(tmpdir(), "edgellm-config-"));
  const file = join(dir, "routing.json");
  await writeFile(
    file,
    JSON.stringify({
      defaultModel: "auto",
      upstreams: {
        qwen: {
          baseUrl: "https://dashscope.aliyuncs.com/compatible-mode/v1/",
          apiKeyEnv: "DASHSCOPE_API_KEY",
          model: "qwen-max",
          price: { input: 0.02, output: 0.06 },
        },
      },
      auto: { threshold: 0.4 },
      budget: { daily: 10, currency: "CNY" },
    }),
  );
  const config = await loadRoutingConfig({
    file,
    upstreams: ["fleet=http://10.0.0.1:8080/v1,http://10.0.0.2:8080/v1"],
    env: {
      DASHSCOPE_API_KEY: "sk-secret-1",
      EDGELLM_UPSTREAM_QWEN_TIMEOUT_MS: "5000",
      EDGELLM_UPSTREAM_FLEET_API_KEY: "sk-secret-2",
      EDGELLM_UPSTREAM_FLEET_MODEL: "qwen2.5-0.5b-instruct",
      EDGELLM_ROUTE_THRESHOLD: "0.6",
    },
  });
  const [qwen, fleet] = config.upstreams;
  assert.equal(qwen.baseUrls[0], "https://dashscope.aliyuncs.com/compatible-mode/v1");
  assert.equal(qwen.apiKey, "sk-secret-1");
  assert.equal(qwen.model, "qwen-max");
  assert.equal(qwen.timeoutMs, 5000);
  assert.equal(qwen.healthCheckMs, 0);
  assert.deepEqual(fleet.baseUrls, ["http://10.0.0.1:8080/v1", "http://10.0.0.2:8080/v1"]);
  assert.equal(fleet.apiKey, "sk-secret-2");
  assert.equal(fleet.model, "qwen2.5-0.5b-instruct");
  assert.equal(fleet.healthCheckMs, 10_000, "replicas are health-checked");
  assert.equal(config.auto.threshold, 0.6);
  assert.equal(config.defaultModel, "auto");
  assert.deepEqual(config.budget, { daily: 10, currency: "CNY" });
  assert.equal(config.cloud, true);
  const line = describeRouting(config);
  assert.doesNotMatch(line, /sk-secret/);
  assert.match(line, /qwen -> qwen-max @ dashscope\.aliyuncs\.com \(key set\)/);

  const off = resolveRoutingConfig({}, { cloud: false, upstreams: ["a=http://x/v1"] });
  assert.equal(off.cloud, false);
  const envOnly = resolveRoutingConfig(
    {},
    { env: { EDGELLM_UPSTREAM_DEEPSEEK_BASE_URL: "https://api.deepseek.com/v1" } },
  );
  assert.equal(envOnly.upstreams[0].name, "deepseek");
});

test("invalid configs are refused with every problem named", async () => {
  assert.throws(
    () =>
      resolveRoutingConfig(
        { upstreams: { cloud: { baseUrl: "not a url", timeoutMs: -1 } }, cascade: { enabeld: true } },
        {},
      ),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /cascade: Unrecognized key/);
      return true;
    },
  );
  assert.throws(
    () => resolveRoutingConfig({ upstreams: { cloud: { baseUrl: "ftp://x" } } }, {}),
    /upstreams\.cloud\.baseUrl/,
  );
  assert.throws(() => resolveRoutingConfig({}, { upstreams: ["no-equals-sign"] }), /NAME=BASE_URL/);
  assert.throws(() => resolveRoutingConfig({}, { upstreams: ["auto=http://x/v1"] }), /reserved/);
  assert.throws(() => resolveRoutingConfig({ defaultModel: "nope" }, {}), /defaultModel/);
  assert.throws(
    () => resolveRoutingConfig({}, { env: { EDGELLM_ROUTE_THRESHOLD: "2" } }),
    /EDGELLM_ROUTE_THRESHOLD/,
  );
  await assert.rejects(loadRoutingConfig({ file: "/nonexistent/routing.json" }), /cannot read config file/);
});
