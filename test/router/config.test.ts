import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
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
import { CLI } from "../helpers/server-process.js";

test("file, environment and flags (resolved in src/config/) merge in rising precedence", async () => {
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
    },
    settings: { routeThreshold: 0.6 },
  });
  const [qwen, fleet] = config.upstreams;
  assert.equal(qwen.baseUrls[0], "https://dashscope.aliyuncs.com/compatible-mode/v1");
  assert.equal(qwen.apiKey, "sk-secret-1");
  assert.equal(qwen.model, "qwen-max");
  assert.equal(qwen.firstByteTimeoutMs, 5000, "the former _TIMEOUT_MS still sets it");
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

  const off = resolveRoutingConfig({}, { settings: { cloud: false }, upstreams: ["a=http://x/v1"] });
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
  await assert.rejects(loadRoutingConfig({ file: "/nonexistent/routing.json" }), /cannot read config file/);
});

test("upstream timeouts: defaults, then upstreamDefaults, flags or variables, and each upstream's own", () => {
  const [plain] = resolveRoutingConfig({}, { upstreams: ["a=http://x/v1"] }).upstreams;
  assert.deepEqual(
    [plain.connectTimeoutMs, plain.firstByteTimeoutMs, plain.idleTimeoutMs, plain.fallbackAfterMs],
    [3000, 10_000, 30_000, 10_000],
  );

  const file = {
    upstreamDefaults: { connectTimeoutMs: 1000, firstByteTimeoutMs: 20_000, idleTimeoutMs: 5000, retries: 2 },
    upstreams: {
      shared: { baseUrl: "http://x/v1" },
      own: { baseUrl: "http://y/v1", firstByteTimeoutMs: 60_000, fallbackAfterMs: 90_000 },
      former: { baseUrl: "http://z/v1", timeoutMs: 45_000 },
    },
  };
  const fromFile = resolveRoutingConfig(file, {}).upstreams;
  assert.deepEqual(
    fromFile.map((u) => [
      u.connectTimeoutMs,
      u.firstByteTimeoutMs,
      u.idleTimeoutMs,
      u.fallbackAfterMs,
      u.retries,
    ]),
    [
      [1000, 20_000, 5000, 20_000, 2],
      [1000, 60_000, 5000, 90_000, 2],
      [1000, 45_000, 5000, 45_000, 2], // timeoutMs is firstByteTimeoutMs's former name
    ],
  );

  const fromEnv = resolveRoutingConfig(file, {
    settings: { upstreamConnectTimeout: 2, upstreamFirstByteTimeout: 15 },
  }).upstreams;
  assert.deepEqual(
    fromEnv.map((u) => [u.connectTimeoutMs, u.firstByteTimeoutMs]),
    [
      [2000, 15_000],
      [2000, 60_000],
      [2000, 45_000],
    ],
  );
  const flags = { upstreamConnectTimeout: 0.25, upstreamFirstByteTimeout: 12.5, upstreamIdleTimeout: 7 };
  const fromFlags = resolveRoutingConfig(file, { settings: flags }).upstreams;
  assert.deepEqual(
    fromFlags.map((u) => [u.connectTimeoutMs, u.firstByteTimeoutMs, u.idleTimeoutMs]),
    [
      [250, 12_500, 7000],
      [250, 60_000, 7000],
      [250, 45_000, 7000],
    ],
  );
  const perUpstreamEnv = { EDGELLM_UPSTREAM_SHARED_FIRST_BYTE_TIMEOUT_MS: "30000" };
  const [shared] = resolveRoutingConfig(file, { env: perUpstreamEnv, settings: flags }).upstreams;
  assert.equal(shared.firstByteTimeoutMs, 30_000);
  assert.equal(shared.fallbackAfterMs, 30_000, "the wait before fallback follows the first-byte timeout");
});

test("bad timeouts in the file are refused, naming where they came from", () => {
  const one = { upstreams: ["a=http://x/v1"] };
  assert.throws(
    () => resolveRoutingConfig({ upstreamDefaults: { connectTimeoutMs: 0 } }, one),
    /upstreamDefaults\.connectTimeoutMs/,
  );
  assert.throws(
    () => resolveRoutingConfig({ upstreamDefaults: { baseUrl: "http://x/v1" } }, one),
    /upstreamDefaults: Unrecognized key/,
  );
});

test("serve refuses a bad timeout flag before loading anything", () => {
  const run = spawnSync(
    process.execPath,
    [CLI, "serve", "--model", "/nonexistent.gguf", "--upstream-connect-timeout", "never"],
    { encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /--upstream-connect-timeout must be a number of seconds above 0/);
});
