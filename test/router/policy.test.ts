import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { DEFAULT_SAMPLING, type GenerateRequest } from "../../src/provider/types.js";
import {
  assess,
  DEFAULT_THRESHOLD,
  explain,
  policyInput,
  schemaComplexity,
} from "../../src/router/policy.js";

interface Labelled {
  prompt: string;
  label: "easy" | "hard";
  lang: "en" | "zh";
}

// The datasets sit next to the sources; tests run from dist/, so resolve them from the repo root.
const load = (name: string): { prompts: Labelled[] } =>
  JSON.parse(readFileSync(new URL(`../../../test/router/${name}`, import.meta.url), "utf8"));
const dataset = load("policy-dataset.json");
const holdout = load("policy-holdout.json");

/** The accuracy the policy must keep on the labelled set it was tuned on. */
const ACCURACY_BAR = 0.9;
/** The bar on prompts never used for tuning: lower, as an honest estimate should be. */
const HOLDOUT_BAR = 0.75;

function chat(content: string, extra: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    model: "auto",
    prompt: { kind: "chat", messages: [{ role: "user", content }] },
    sampling: DEFAULT_SAMPLING,
    ...extra,
  };
}

function accuracyOn(name: string, prompts: Labelled[]): number {
  const wrong: string[] = [];
  const byLang: Record<string, { right: number; total: number }> = {};
  for (const item of prompts) {
    const a = assess(policyInput(chat(item.prompt)));
    const predicted = a.score >= DEFAULT_THRESHOLD ? "hard" : "easy";
    byLang[item.lang] ??= { right: 0, total: 0 };
    byLang[item.lang].total++;
    if (predicted === item.label) byLang[item.lang].right++;
    else wrong.push(`${item.label} scored ${explain(a, DEFAULT_THRESHOLD)}: ${item.prompt.slice(0, 70)}`);
  }
  const accuracy = 1 - wrong.length / prompts.length;
  const perLang = Object.entries(byLang)
    .map(([lang, s]) => `${lang} ${s.right}/${s.total}`)
    .join(", ");
  console.log(
    `${name}: accuracy ${accuracy.toFixed(3)} (${perLang})${wrong.map((w) => `\n  miss: ${w}`).join("")}`,
  );
  return accuracy;
}

test(`policy accuracy is at least ${ACCURACY_BAR} on the labelled set and ${HOLDOUT_BAR} held out`, () => {
  assert.ok(dataset.prompts.length >= 40);
  assert.ok(accuracyOn("policy-dataset", dataset.prompts) >= ACCURACY_BAR);
  assert.ok(accuracyOn("policy-holdout", holdout.prompts) >= HOLDOUT_BAR);
});

test("requested length, conversation depth and tools raise the score", () => {
  const base = assess(policyInput(chat("Tell me about the history of Rome."))).score;
  const longer = assess(
    policyInput(
      chat("Tell me about the history of Rome.", { sampling: { ...DEFAULT_SAMPLING, maxTokens: 4096 } }),
    ),
  ).score;
  assert.ok(longer > base, `${longer} > ${base}`);

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
  assert.ok(assess(policyInput(withTools)).contributions.some((c) => c.feature === "schema/tools"));
});

test("the explanation names the threshold and the top features", () => {
  const a = assess(policyInput(chat("证明：任意图的奇度顶点个数为偶数，并给出严格推导。")));
  const line = explain(a, 0.5);
  assert.match(line, /^difficulty \d\.\d\d >= 0\.50 \(proof \+0\.\d\d/);
  assert.equal(explain(assess(policyInput(chat("你好"))), 0.5).startsWith("difficulty 0.00 < 0.50"), true);
});

test("a text prompt is assessed like a chat ask", () => {
  const a = assess(
    policyInput({
      model: "auto",
      prompt: { kind: "text", text: "Prove Fermat's little theorem." },
      sampling: DEFAULT_SAMPLING,
    }),
  );
  assert.ok(a.score >= DEFAULT_THRESHOLD);
});
