import assert from "node:assert/strict";
import { test } from "node:test";
import { MeteredProvider, Metrics } from "../src/metrics.js";
import {
  DEFAULT_SAMPLING,
  type GenerateRequest,
  type ModelProvider,
  type StreamPart,
  type Usage,
} from "../src/provider/types.js";
import { Scheduler } from "../src/scheduler/scheduler.js";
import { FakeEngine } from "./helpers/fake-engine.js";

/** A provider that answers every request with one word and the given usage. */
function providerReporting(usage: Usage): ModelProvider {
  return {
    state: "ready",
    listModels: () => [],
    resolveModel: () => "m",
    async *stream(): AsyncGenerator<StreamPart> {
      yield { type: "text-delta", text: "hi" };
      yield { type: "finish", finishReason: "stop", usage };
    },
  };
}

async function drain(provider: ModelProvider): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  const request = { model: "m", prompt: { kind: "text" as const, text: "x" }, sampling: DEFAULT_SAMPLING };
  for await (const part of provider.stream(request, { signal: new AbortController().signal }))
    parts.push(part);
  return parts;
}

async function value(metrics: Metrics, name: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

test("a bad token count from a provider costs the metric, never the request", async () => {
  const metrics = new Metrics();
  const bad = providerReporting({ promptTokens: -3, completionTokens: Number.NaN, cachedTokens: -1 });
  const parts = await drain(new MeteredProvider(bad, metrics));
  assert.equal(parts.at(-1)?.type, "finish");
  assert.equal(await value(metrics, "edgellm_cached_prompt_tokens_total"), 0);
  assert.equal(await value(metrics, "edgellm_prompt_tokens_total"), 0);
  assert.equal(await value(metrics, "edgellm_completion_tokens_total"), 0);
  const requests = await metrics.registry.getSingleMetric("edgellm_requests_total")?.get();
  assert.deepEqual(
    requests?.values.map((v) => [v.labels.outcome, v.value]),
    [["ok", 1]],
  );

  await drain(
    new MeteredProvider(
      providerReporting({ promptTokens: 5, completionTokens: 2, cachedTokens: 3 }),
      metrics,
    ),
  );
  assert.equal(await value(metrics, "edgellm_cached_prompt_tokens_total"), 3);
  assert.equal(await value(metrics, "edgellm_prompt_tokens_total"), 5);
});

/** The model-server gauges as the Endpoint Picker reads them, and cache_config_info's labels. */
async function gauges(metrics: Metrics) {
  const config = await metrics.registry.getSingleMetric("vllm:cache_config_info")?.get();
  return {
    waiting: await value(metrics, "vllm:num_requests_waiting"),
    running: await value(metrics, "vllm:num_requests_running"),
    kv: await value(metrics, "vllm:kv_cache_usage_perc"),
    config: config?.values.map((v) => ({ ...v.labels, value: v.value })),
  };
}

test("the model-server gauges read 0 until a load source is watched, then read it at each scrape", async () => {
  const metrics = new Metrics();
  assert.deepEqual(await gauges(metrics), { waiting: 0, running: 0, kv: 0, config: [] });
  const load = { queueLength: 3, activeSlots: 2, usage: 0.25 };
  metrics.watchLoad({
    get queueLength() {
      return load.queueLength;
    },
    get activeSlots() {
      return load.activeSlots;
    },
    kvCacheUsage: () => load.usage,
    cacheConfig: () => ({ blockSize: 16, blocks: 512 }),
  });
  assert.deepEqual(await gauges(metrics), {
    waiting: 3,
    running: 2,
    kv: 0.25,
    config: [{ block_size: 16, num_gpu_blocks: 512, value: 1 }],
  });
  Object.assign(load, { queueLength: 0, activeSlots: 1, usage: 0.5 });
  assert.deepEqual(await gauges(metrics), {
    waiting: 0,
    running: 1,
    kv: 0.5,
    config: [{ block_size: 16, num_gpu_blocks: 512, value: 1 }],
  });
  assert.match(
    await metrics.registry.metrics(),
    /^vllm:cache_config_info\{block_size="16",num_gpu_blocks="512"\} 1$/m,
  );
});

function textRequest(text: string): GenerateRequest {
  return { model: "fake-model", prompt: { kind: "text", text }, sampling: DEFAULT_SAMPLING };
}

test("the scheduler's gauges: queued and running requests, the KV cells they hold, and 0 again when idle", async () => {
  const metrics = new Metrics();
  const scheduler = new Scheduler({ metrics });
  assert.deepEqual(await gauges(metrics), { waiting: 0, running: 0, kv: 0, config: [] });
  // Two slots of 100 tokens; FakeEngine holds one token per character, prompt and reply.
  const engine = new FakeEngine(2, 100);
  scheduler.attach(engine);
  const config = [{ block_size: 16, num_gpu_blocks: 12, value: 1 }];
  assert.deepEqual(await gauges(metrics), { waiting: 0, running: 0, kv: 0, config });

  const signal = new AbortController().signal;
  const a = scheduler.stream(textRequest("a".repeat(10)), { signal });
  const b = scheduler.stream(textRequest("b".repeat(20)), { signal });
  const c = scheduler.stream(textRequest("c".repeat(5)), { signal });
  await a.next(); // 10 prompt cells and 1 generated
  await b.next(); // 20 and 1
  const queued = c.next();
  while (scheduler.queueLength === 0) await new Promise((r) => setImmediate(r));
  assert.deepEqual(await gauges(metrics), { waiting: 1, running: 2, kv: (11 + 21) / 200, config });
  await a.next();
  assert.equal((await gauges(metrics)).kv, (12 + 21) / 200, "generated tokens hold cells too");

  const rest = async (stream: AsyncGenerator<StreamPart>) => {
    for await (const _ of stream);
  };
  await Promise.all([rest(a), rest(b), queued.then(() => rest(c))]);
  assert.ok(
    engine.slots.some((tokens) => tokens.length > 0),
    "the slots keep their tokens for reuse",
  );
  assert.deepEqual(await gauges(metrics), { waiting: 0, running: 0, kv: 0, config });
});

test("a running request holds its whole prompt's cells before the engine has evaluated any", async () => {
  const metrics = new Metrics();
  const scheduler = new Scheduler({ metrics });
  // As llama-server's engine before the child's first token: nothing known in the slot yet.
  scheduler.attach(Object.assign(new FakeEngine(2, 100), { slotCells: () => 0 }));
  const stream = scheduler.stream(textRequest("p".repeat(30)), { signal: new AbortController().signal });
  await stream.next();
  assert.equal((await gauges(metrics)).kv, 30 / 200);
  await stream.return(undefined);
  assert.equal((await gauges(metrics)).kv, 0);
});
