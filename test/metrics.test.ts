import assert from "node:assert/strict";
import { test } from "node:test";
import { MeteredProvider, Metrics } from "../src/metrics.js";
import { DEFAULT_SAMPLING, type ModelProvider, type StreamPart, type Usage } from "../src/provider/types.js";

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
