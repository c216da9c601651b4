import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { LocalEngine } from "../../src/engine/local-engine.js";
import { InvalidRequestError } from "../../src/provider/errors.js";
import { DEFAULT_SAMPLING, type GenerateRequest, type JsonSchema } from "../../src/provider/types.js";
import { MAX_PROPERTIES } from "../../src/structured/limits.js";
import { checkJson } from "../../src/structured/validator.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// The real engine (node-llama-cpp, llama.cpp's grammar) on the tiny synthetic model, whose random
// weights write noise: only the grammar makes its answers valid.
let engine: LocalEngine;

before(async () => {
  engine = await LocalEngine.load({ modelPath: await tinyModelPath(), contextSize: 1024, threads: 1 });
});

after(async () => {
  await engine.dispose();
});

/** `n` optional properties of small types, every 100th required so documents reach deep into the list. */
function wide(n: number): JsonSchema {
  const names = Array.from({ length: n }, (_, i) => `p${i}`);
  return {
    type: "object",
    properties: Object.fromEntries(
      names.map((name, i) => [
        name,
        i % 2 ? { type: "boolean" } : { type: "integer", minimum: 0, maximum: 99 },
      ]),
    ),
    required: names.filter((_, i) => i % 100 === 99),
    additionalProperties: false,
  };
}

function request(schema: JsonSchema): GenerateRequest {
  return {
    model: engine.modelId,
    prompt: { kind: "chat", messages: [{ role: "user", content: "Answer in JSON." }] },
    sampling: { ...DEFAULT_SAMPLING, temperature: 1, maxTokens: 500 },
    format: { kind: "json_schema", name: "wide", schema },
  };
}

test("300 optional properties compile in llama.cpp and constrained documents validate", async () => {
  const schema = wide(300);
  for (const seed of [11, 12]) {
    const req = request(schema);
    req.sampling.seed = seed;
    let text = "";
    let finish = "";
    const tokens = await engine.tokenize(req.prompt);
    for await (const event of engine.generate(0, tokens, req.sampling, new AbortController().signal, req)) {
      if (event.type === "text") text += event.text;
      else if (event.type === "done") finish = event.finishReason;
    }
    assert.equal(finish, "stop", text);
    const verdict = checkJson(text, schema);
    assert.ok(verdict.ok, `${text} ${verdict.ok ? "" : verdict.error}`);
    // The required properties were written, so the document went through the whole list.
    assert.ok(text.includes('"p299"'), text);
  }
});

test(`the largest allowed object (${MAX_PROPERTIES} properties) compiles; 3000 are refused at once`, async () => {
  const started = performance.now();
  await engine.grammars.forRequest(request(wide(MAX_PROPERTIES)));
  // Liveness, not speed: before the linear grammar this blocked the server for seconds, then failed.
  assert.ok(performance.now() - started < 5000);
  const refused = performance.now();
  assert.throws(
    () => engine.check(request(wide(3000))),
    (e: unknown) => e instanceof InvalidRequestError && e.field === "format.schema.properties",
  );
  assert.ok(performance.now() - refused < 2000);
});
