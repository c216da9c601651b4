import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { queryObjects } from "node:v8";
import { DEFAULT_SAMPLING, type GenerateRequest } from "../../src/provider/types.js";
import { resolveRoutingConfig } from "../../src/router/config.js";
import { describeModelCheck, type ModelCheck } from "../../src/router/model-check.js";
import { UpstreamProvider } from "../../src/router/upstream.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";

// UpstreamProvider on its own, against a scripted upstream on loopback.
let cloud: FakeUpstream;

before(async () => {
  cloud = await new FakeUpstream().start();
});

after(async () => {
  await cloud.stop();
});

const hi: GenerateRequest = {
  model: "cloud",
  prompt: { kind: "chat", messages: [{ role: "user", content: "hi" }] },
  sampling: DEFAULT_SAMPLING,
};

function upstream(
  file: Record<string, unknown>,
  options: ConstructorParameters<typeof UpstreamProvider>[1] = {},
) {
  const config = resolveRoutingConfig({ upstreams: { cloud: { baseUrl: cloud.url, ...file } } }, {});
  return new UpstreamProvider(config.upstreams[0], options);
}

async function drain(provider: UpstreamProvider, signal = new AbortController().signal) {
  try {
    for await (const _ of provider.stream(hi, { signal }));
  } catch {
    // Failures are what these tests provoke.
  }
}

test("retried attempts leave nothing behind: no abort signal outlives its request", async () => {
  cloud.script = [{ kind: "status", status: 500 }];
  const provider = upstream(
    { retries: 3, retryBackoffMs: 1, firstByteTimeoutMs: 5000 },
    { breaker: { failureThreshold: 1_000_000 } },
  );
  const live = () => queryObjects(AbortSignal, { format: "count" }) as number;
  await drain(provider); // warm-up: the SDK's and Node's own signals made once
  const before = live();
  const requests = cloud.requests.length;
  for (let i = 0; i < 20; i++) await drain(provider);
  assert.equal(cloud.requests.length - requests, 80, "each request made four attempts");
  // queryObjects collects garbage first; a leak kept two signals per attempt (160 here).
  assert.ok(live() - before < 20, `${live() - before} more live AbortSignals after 80 attempts`);
  provider.dispose();
  cloud.script = [{ kind: "ok" }];
});

test("the model check reports a model the upstream does not list, and a missing model list once", async () => {
  const checks: ModelCheck[] = [];
  cloud.models = ["qwen-max", "qwen-plus"];
  const misnamed = upstream({ model: "qwen-mx" }, { onModelCheck: (c) => checks.push(c) });
  await misnamed.checkModels();
  assert.deepEqual(checks, [{ state: "missing", listed: ["qwen-max", "qwen-plus"] }]);
  assert.equal(
    describeModelCheck("cloud", "qwen-mx", checks[0]),
    "upstream 'cloud' has no model 'qwen-mx' (it lists 'qwen-max', 'qwen-plus'); requests to it will fall back",
  );
  cloud.models = ["qwen-mx"];
  await misnamed.checkHealth();
  assert.deepEqual(checks.at(-1), { state: "listed" });
  misnamed.dispose();

  checks.length = 0;
  cloud.models = undefined;
  const proxied = upstream({ model: "qwen-max" }, { onModelCheck: (c) => checks.push(c) });
  await proxied.checkModels();
  await proxied.checkModels();
  assert.deepEqual(checks, [{ state: "unlisted", why: "HTTP 404" }], "said once");
  proxied.dispose();
});
