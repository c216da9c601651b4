import assert from "node:assert/strict";
import { test } from "node:test";
import { completionBody, parseCompletionChunk } from "../../src/engine/llama-server/completion.js";
import { DEFAULT_SAMPLING } from "../../src/provider/types.js";

test("a llama-server chunk parses; one that is not JSON or not a chunk is undefined (the engine's 503)", () => {
  const chunk = parseCompletionChunk(
    '{"content":"hi","tokens":[5],"tokens_predicted":1,"stop":false,"extra":{"ignored":true}}',
  );
  assert.deepEqual(chunk, { content: "hi", tokens: [5], tokens_predicted: 1, stop: false });
  assert.equal(parseCompletionChunk("not json"), undefined);
  assert.equal(parseCompletionChunk('{"content": 42}'), undefined);
  assert.equal(parseCompletionChunk('{"tokens": ["a"]}'), undefined);
});

test("the completion body sends token ids on the chosen slot, edgellm's grammar, and no ignore_eos under a grammar", () => {
  const body = completionBody({
    promptTokens: [1, 2, 3],
    slot: 2,
    sampling: { ...DEFAULT_SAMPLING, ignoreEos: true, seed: 9 },
    budget: 16,
    grammar: 'root ::= "x"',
    topLogprobs: 0,
  });
  assert.deepEqual(body.prompt, [1, 2, 3]);
  assert.equal(body.id_slot, 2);
  assert.equal(body.cache_prompt, true);
  assert.equal(body.n_predict, 16);
  assert.equal(body.seed, 9);
  assert.equal(body.grammar, 'root ::= "x"');
  assert.equal(body.ignore_eos, false);
  assert.equal(body.n_probs, 1);
  assert.equal(
    completionBody({ promptTokens: [1], slot: 0, sampling: DEFAULT_SAMPLING, budget: Infinity }).n_predict,
    -1,
  );
});

test("logit_bias goes as llama-server's [[id, bias]] list, a -100 as false (a ban, not a weight)", () => {
  const body = (logitBias?: [number, number][]) =>
    completionBody({ promptTokens: [1], slot: 0, sampling: { ...DEFAULT_SAMPLING, logitBias }, budget: 4 });
  assert.deepEqual(
    body([
      [7, -100],
      [9, 2.5],
      [11, 100],
    ]).logit_bias,
    [
      [7, false],
      [9, 2.5],
      [11, 100],
    ],
  );
  assert.equal("logit_bias" in body(), false);
  assert.equal("logit_bias" in body([]), false);
});
