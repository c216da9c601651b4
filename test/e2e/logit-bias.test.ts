import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { getLlama, LlamaLogLevel, type LlamaModel } from "node-llama-cpp";
import OpenAI from "openai";
import { tinyServerFixture } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// logit_bias on the real server with the tiny model (on either engine, EDGELLM_ENGINE): a ban changes the
// greedy first token, a large positive bias forces a chosen one, and ids outside the vocabulary are a 400.
const e2e = tinyServerFixture(["--ctx-size", "1024"]);
const messages = [{ role: "user" as const, content: "Tell me about the sea." }];
const model = "local";

let vocabulary: LlamaModel;
before(async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  vocabulary = await llama.loadModel({ modelPath: await tinyModelPath(), vocabOnly: true });
});
after(() => vocabulary?.dispose());

async function firstToken(logitBias?: Record<string, number>) {
  const completion = await e2e.client.chat.completions.create({
    model,
    messages,
    max_tokens: 1,
    temperature: 0,
    logprobs: true,
    ...(logitBias && { logit_bias: logitBias }),
  });
  const entry = completion.choices[0].logprobs?.content?.[0];
  assert.ok(entry?.bytes);
  return entry;
}

test("-100 bans the token greedy decoding picks; +100 forces a chosen one", async () => {
  const greedy = await firstToken();
  const ids = vocabulary.tokenize(Buffer.from(greedy.bytes ?? []).toString("utf8"), true);
  assert.equal(ids.length, 1, `'${greedy.token}' is one token`);
  const banned = await firstToken({ [String(ids[0])]: -100 });
  assert.notDeepEqual(banned.bytes, greedy.bytes, "the banned token is not generated");

  // Any token: a +100 bias outweighs every logit of this model.
  const [chosen] = vocabulary.tokenize(" zebra", true);
  const forced = await e2e.client.chat.completions.create({
    model,
    messages,
    max_tokens: 3,
    temperature: 0,
    logit_bias: { [String(chosen)]: 100 },
  });
  assert.equal(forced.choices[0].message.content, vocabulary.detokenize([chosen, chosen, chosen]));
});

test("a bias on the end token applies (+100 ends the answer at once), and ignore_eos bans it even then", async () => {
  const eos = vocabulary.tokens.eos ?? vocabulary.tokens.eot;
  assert.ok(eos !== null);
  // The chat template ends a turn with <|im_end|>, which is what a +100 bias makes the model say first.
  const [imEnd] = vocabulary.tokenize("<|im_end|>", true);
  const ends = await e2e.client.chat.completions.create({
    model,
    messages,
    max_tokens: 8,
    temperature: 0,
    logit_bias: { [String(imEnd)]: 100, [String(eos)]: 100 },
  });
  assert.equal(ends.choices[0].finish_reason, "stop");
  // llama-server counts the end token it sampled; the in-process engine counts only tokens of the answer.
  assert.ok((ends.usage?.completion_tokens ?? 9) <= 1);
  assert.equal(ends.choices[0].message.content, "");

  const banned = await e2e.client.chat.completions.create({
    model,
    messages,
    max_tokens: 8,
    temperature: 0,
    logit_bias: { [String(imEnd)]: 100, [String(eos)]: 100 },
    // @ts-expect-error edgellm's extension, as llama-server's
    ignore_eos: true,
  });
  assert.equal(banned.choices[0].finish_reason, "length");
  assert.equal(banned.usage?.completion_tokens, 8);
});

test("a token id outside the vocabulary, a bad key or value, or too many entries is a 400 naming logit_bias", async () => {
  const size = vocabulary.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 0;
  assert.ok(size > 1000);
  for (const logit_bias of [
    { [String(size)]: 5 },
    { abc: 5 },
    { "-1": 5 },
    { "1": 101 },
    Object.fromEntries(Array.from({ length: 301 }, (_, i) => [String(i), 1])),
  ]) {
    const error = await e2e.client.chat.completions
      .create({ model, messages, max_tokens: 1, logit_bias })
      .catch((e: unknown) => e);
    assert.ok(error instanceof OpenAI.BadRequestError, JSON.stringify(logit_bias).slice(0, 40));
    assert.match(error.param ?? "", /^logit_bias/);
    assert.equal(error.code, "invalid_value");
  }
});
