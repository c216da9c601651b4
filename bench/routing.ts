/**
 * Routing overhead: the policy and the routing decision per request, without any model; and the policy's
 * accuracy (5-fold CV on the training split, the held-out split, and the held-out trade-off per
 * threshold). Prints JSON. Target: under 1 ms at p99. Run: node dist/bench/routing.js
 */
import { Registry } from "prom-client";
import { DEFAULT_SAMPLING, type GenerateRequest, type ModelProvider } from "../src/provider/types.js";
import { RouterMetrics } from "../src/router/accounting.js";
import { resolveRoutingConfig } from "../src/router/config.js";
import { readExamples } from "../src/router/policy/data.js";
import { accuracy, crossValidate } from "../src/router/policy/train.js";
import { assess, DEFAULT_THRESHOLD, policyInput } from "../src/router/policy.js";
import { redactRequest } from "../src/router/redact.js";
import { Router, type RouterLogger } from "../src/router/router.js";
import { createUpstreams } from "../src/server.js";

const quiet: RouterLogger = { info: () => {}, warn: () => {} };

const labelled = readExamples("prompts");
// A long pasted document as well, since feature extraction grows with the ask (up to its scan limits).
const long = `${"The quarterly report shows revenue growth across all regions. ".repeat(400)} Summarize it.`;
const prompts = [...labelled.map((p) => p.text), long];

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

const trainSet = readExamples("train");
const holdout = readExamples("holdout");
const cv = crossValidate(trainSet, 5);
// Bare asks, as the model was trained and the test measures; a system prompt changes only the length features.
const heldScores = holdout.map(
  (p) =>
    assess(
      policyInput({
        model: "auto",
        prompt: { kind: "chat", messages: [{ role: "user", content: p.text }] },
        sampling: DEFAULT_SAMPLING,
      }),
    ).score,
);
const round3 = (x: number) => Number(x.toFixed(3));
const thresholds = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8].map((threshold) => ({
  threshold,
  cv_accuracy: round3(accuracy(trainSet, cv.scores, threshold)),
  holdout_accuracy: round3(accuracy(holdout, heldScores, threshold)),
  holdout_cloud_share: round3(heldScores.filter((s) => s >= threshold).length / holdout.length),
}));
const policyAccuracy = {
  threshold: DEFAULT_THRESHOLD,
  train_prompts: trainSet.length,
  holdout_prompts: holdout.length,
  cv_folds: cv.folds,
  cv_accuracy: round3(accuracy(trainSet, cv.scores, DEFAULT_THRESHOLD)),
  holdout_accuracy: round3(accuracy(holdout, heldScores, DEFAULT_THRESHOLD)),
  holdout_hard_share: round3(holdout.filter((p) => p.label === "hard").length / holdout.length),
  thresholds,
};
console.log(
  JSON.stringify(
    {
      bench: "routing",
      prompts: prompts.length,
      results,
      accuracy: policyAccuracy,
      target_p99_ms: 1,
      pass: decision.p99_ms < 1,
    },
    null,
    2,
  ),
);
router.dispose();
