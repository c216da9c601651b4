/**
 * Routing overhead: the policy and the routing decision per request, without any model. Prints JSON.
 * Target: under 1 ms at p99. Run: node dist/bench/routing.js
 */
import { readFileSync } from "node:fs";
import { Registry } from "prom-client";
import { DEFAULT_SAMPLING, type GenerateRequest, type ModelProvider } from "../src/provider/types.js";
import { RouterMetrics } from "../src/router/accounting.js";
import { resolveRoutingConfig } from "../src/router/config.js";
import { assess, policyInput } from "../src/router/policy.js";
import { redactRequest } from "../src/router/redact.js";
import { Router, type RouterLogger } from "../src/router/router.js";
import { createUpstreams } from "../src/server.js";

const quiet: RouterLogger = { info: () => {}, warn: () => {} };

const dataset: { prompts: { prompt: string }[] } = JSON.parse(
  readFileSync(new URL("../../test/router/policy-dataset.json", import.meta.url), "utf8"),
);
// A long pasted document as well, since keyword scans grow with the ask (capped at 8000 characters).
const long = `${"The quarterly report shows revenue growth across all regions. ".repeat(400)} Summarize it.`;
const prompts = [...dataset.prompts.map((p) => p.prompt), long];

const local: ModelProvider = {
  state: "ready",
  listModels: () => [],
  resolveModel: () => "local-model",
  async *stream() {},
};
const config = resolveRoutingConfig({ upstreams: { cloud: { baseUrl: "http://127.0.0.1:9/v1" } } }, {});
const router = new Router({
  local,
  config,
  upstreams: createUpstreams(config, { metrics: new RouterMetrics(new Registry()), log: quiet }),
});

function request(content: string): GenerateRequest {
  return {
    model: "auto",
    prompt: {
      kind: "chat",
      messages: [
        { role: "system", content: "You are a helpful assistant." },
        { role: "user", content },
      ],
    },
    sampling: DEFAULT_SAMPLING,
  };
}

function measure(label: string, iterations: number, fn: (i: number) => void) {
  for (let i = 0; i < 2000; i++) fn(i); // warm-up: JIT and regex compilation
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    fn(i);
    samples[i] = Number(process.hrtime.bigint() - start) / 1e6;
  }
  samples.sort();
  const at = (q: number) => Number(samples[Math.min(iterations - 1, Math.floor(q * iterations))].toFixed(4));
  return { label, iterations, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1) };
}

const requests = prompts.map(request);
const iterations = 20_000;
const results = [
  measure("policy (assess)", iterations, (i) => assess(policyInput(requests[i % requests.length]))),
  measure("routing decision (router.decide)", iterations, (i) =>
    router.decide(requests[i % requests.length]),
  ),
  measure("redaction", iterations, (i) => redactRequest(requests[i % requests.length])),
];
const decision = results[1];
console.log(
  JSON.stringify(
    {
      bench: "routing",
      prompts: prompts.length,
      results,
      target_p99_ms: 1,
      pass: decision.p99_ms < 1,
    },
    null,
    2,
  ),
);
router.dispose();
