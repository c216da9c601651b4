import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { DEFAULT_SAMPLING, type GenerateRequest } from "../../src/provider/types.js";
import { formatWeights, type LabelledPrompt, readExamples } from "../../src/router/policy/data.js";
import { accuracy, bestThreshold, crossValidate, train } from "../../src/router/policy/train.js";
import {
  assess,
  DEFAULT_THRESHOLD,
  explain,
  policyInput,
  schemaComplexity,
} from "../../src/router/policy.js";

/** The target (#15) on prompts never used for training or tuning. */
const HOLDOUT_BAR = 0.85;
/** A sanity floor on 5-fold cross-validation over the training split. */
const CV_BAR = 0.85;

const root = new URL("../../../", import.meta.url);
const trainSet = readExamples("train");
const holdout = readExamples("holdout");

function chat(content: string, extra: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    model: "auto",
    prompt: { kind: "chat", messages: [{ role: "user", content }] },
    sampling: DEFAULT_SAMPLING,
    ...extra,
  };
}

const scoreOf = (text: string) => assess(policyInput(chat(text))).score;

function report(
  name: string,
  prompts: readonly LabelledPrompt[],
  scores: readonly number[],
  threshold: number,
) {
  const byLang = (lang: string) => {
    const mine = prompts.flatMap((p, i) => (p.lang === lang ? [i] : []));
    const right = mine.filter((i) => scores[i] >= threshold === (prompts[i].label === "hard")).length;
    return `${lang} ${right}/${mine.length}`;
  };
  const value = accuracy(prompts, scores, threshold);
  console.log(`${name}: accuracy ${value.toFixed(3)} at ${threshold} (${byLang("zh")}, ${byLang("en")})`);
  return value;
}

test("the split is the seeded split of data/routing/prompts.jsonl and held-out prompts are not trained on", () => {
  const check = spawnSync(process.execPath, ["scripts/split-routing.mjs", "--check"], { cwd: root });
  assert.equal(check.status, 0, check.stderr.toString());
  assert.ok(holdout.length >= 88 && trainSet.length + holdout.length >= 440);
  const trained = new Set(trainSet.map((p) => p.text));
  assert.ok(holdout.every((p) => !trained.has(p.text)));
});

test(`held-out accuracy is at least ${HOLDOUT_BAR}; cross-validated accuracy is reported`, () => {
  const cv = crossValidate(trainSet, 5);
  const cvAccuracy = report("5-fold CV on train", trainSet, cv.scores, DEFAULT_THRESHOLD);
  assert.ok(cvAccuracy >= CV_BAR, `CV accuracy ${cvAccuracy}`);
  // The default threshold is the one cross-validation picks; held-out prompts play no part in it.
  assert.equal(bestThreshold(trainSet, cv.scores), DEFAULT_THRESHOLD);
  const held = report(
    "held out",
    holdout,
    holdout.map((p) => scoreOf(p.text)),
    DEFAULT_THRESHOLD,
  );
  assert.ok(held >= HOLDOUT_BAR, `held-out accuracy ${held}`);
});

test("training reproduces the checked-in weights byte for byte", () => {
  const checkedIn = readFileSync(new URL("src/router/policy/weights.json", root), "utf8");
  assert.equal(formatWeights(train(trainSet)), checkedIn, "run npm run train:router");
});

test("a higher threshold never sends more requests to the cloud", () => {
  const scores = holdout.map((p) => scoreOf(p.text));
  let previous = Number.POSITIVE_INFINITY;
  for (let t = 0.05; t < 1; t += 0.05) {
    const cloud = scores.filter((s) => s >= t).length;
    assert.ok(cloud <= previous, `${cloud} at ${t.toFixed(2)} > ${previous}`);
    previous = cloud;
  }
  assert.ok(scores.some((s) => s >= 0.9) && scores.some((s) => s < 0.1), "scores spread over the range");
});

test("requested length, conversation depth and tools raise the score", () => {
  const ask = "Tell me about the history of Rome and its emperors.";
  const base = assess(policyInput(chat(ask))).score;
  const longer = assess(policyInput(chat(ask, { sampling: { ...DEFAULT_SAMPLING, maxTokens: 4096 } })));
  assert.ok(longer.score > base, `${longer.score} > ${base}`);
  assert.ok(longer.contributions.some((c) => c.feature === "max_tokens"));

  const turns = Array.from({ length: 8 }, (_, i) => [
    { role: "user" as const, content: `question ${i}` },
    { role: "assistant" as const, content: `answer ${i}` },
  ]).flat();
  const deep = assess(
    policyInput({ model: "auto", prompt: { kind: "chat", messages: turns }, sampling: DEFAULT_SAMPLING }),
  );
  assert.ok(deep.contributions.some((c) => c.feature === "deep conversation"));

  const schema = {
    type: "object",
    properties: Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [
        `f${i}`,
        { type: "object", properties: { x: { type: "string" } } },
      ]),
    ),
  };
  assert.ok(schemaComplexity(schema) > 10);
  const tools = [1, 2, 3, 4].map((i) => ({ name: `tool${i}`, parameters: { type: "object" } }));
  const withTools: GenerateRequest = {
    ...chat("Book me a table."),
    prompt: { kind: "chat", messages: [{ role: "user", content: "Book me a table." }], tools },
    format: { kind: "json_schema", name: "booking", schema },
  };
  const structured = assess(policyInput(withTools));
  assert.ok(structured.contributions.some((c) => c.feature === "schema/tools"));
  assert.ok(structured.score > assess(policyInput(chat("Book me a table."))).score);
});

test("the explanation names the threshold and the largest contributions, n-grams quoted", () => {
  const hard = assess(policyInput(chat("证明：任意图的奇度顶点个数为偶数，并给出严格推导。")));
  assert.match(explain(hard, 0.5), /^difficulty (0\.9\d|1\.00) >= 0\.50 \(proof \+\d\.\d\d, [^,]+, [^,]+\)$/);
  const sum = hard.contributions.reduce((n, c) => n + c.weight, 0);
  assert.ok(sum > 0, "the contributions add up to the positive side");
  const easy = explain(assess(policyInput(chat("你好"))), 0.5);
  assert.match(easy, /^difficulty 0\.0\d < 0\.50 \(.*simple request -\d\.\d\d/);
  const grams = assess(policyInput(chat("帮我写一首关于春天的小诗"))).contributions;
  assert.ok(
    grams.some((c) => /^"[^"]+"$/.test(c.feature)),
    "n-grams are listed, quoted",
  );
});

test("a text prompt is assessed like a chat ask", () => {
  const a = assess(
    policyInput({
      model: "auto",
      prompt: { kind: "text", text: "Prove Fermat's little theorem." },
      sampling: DEFAULT_SAMPLING,
    }),
  );
  assert.equal(a.score, scoreOf("Prove Fermat's little theorem."));
  assert.ok(a.score >= DEFAULT_THRESHOLD);
});

test("the 80 prompts the keyword policy was tuned and held out on stay above the bar", () => {
  // Written before issue #15 for the keyword policy; the model never trained on them.
  const earlier = ["policy-dataset.json", "policy-holdout.json"].flatMap(
    (name) =>
      (
        JSON.parse(readFileSync(new URL(`test/router/${name}`, root), "utf8")) as {
          prompts: { prompt: string; label: "easy" | "hard"; lang: "zh" | "en" }[];
        }
      ).prompts,
  );
  const prompts = earlier.map((p) => ({ text: p.prompt, label: p.label, lang: p.lang, category: "earlier" }));
  const value = report(
    "earlier 80",
    prompts,
    prompts.map((p) => scoreOf(p.text)),
    DEFAULT_THRESHOLD,
  );
  assert.ok(value >= HOLDOUT_BAR, `accuracy ${value}`);
});

test("a system prompt does not make a short ask look long", () => {
  const system = "You are a helpful assistant for ACME Corp. Answer politely and concisely. ".repeat(4);
  const request: GenerateRequest = {
    ...chat(""),
    prompt: {
      kind: "chat",
      messages: [
        { role: "system", content: system },
        { role: "user", content: "What is the capital of France?" },
      ],
    },
  };
  const a = assess(policyInput(request));
  assert.ok(a.contributions.some((c) => c.feature === "length<12"));
  assert.ok(a.score < DEFAULT_THRESHOLD, explain(a, DEFAULT_THRESHOLD));
});
