import assert from "node:assert/strict";
import { test } from "node:test";
import type OpenAI from "openai";
import { serverFixture } from "../helpers/server-process.js";

// A 100-turn chat through the real server on a small context: with truncation (the server's setting, or a
// request's header) it keeps answering and says what it dropped; refused otherwise, never cut silently.

const CONTEXT = 512;
const e2e = serverFixture(() => [
  "--parallel",
  "1",
  "--ctx-size",
  String(CONTEXT),
  "--context-overflow",
  "truncate",
]);

test("100 turns keep answering with truncation on: the oldest turns go, the header says how many", async () => {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "system", content: "You are brief." }];
  let truncations = 0;
  let cached = 0;
  for (let turn = 0; turn < 100; turn++) {
    messages.push({ role: "user", content: `Question ${turn}: what is ${turn} plus ${turn}?` });
    const { data, response } = await e2e.client.chat.completions
      .create({ model: "local", messages, max_tokens: 8, temperature: 0 })
      .withResponse();
    const header = response.headers.get("x-edgellm-truncated");
    if (header) {
      truncations++;
      assert.match(header, /^turns=\d+, tokens=\d+$/);
    }
    assert.ok(data.usage && data.usage.prompt_tokens + 8 <= CONTEXT, JSON.stringify(data.usage));
    cached += data.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    messages.push({ role: "assistant", content: data.choices[0]?.message.content ?? "" });
  }
  assert.ok(truncations > 50, `${truncations} truncated answers`);
  assert.ok(cached > 0, "the kept prefix is reused across turns");

  // The same history with the policy overridden to error for this request: a clear 400, nothing cut.
  const refused = await fetch(`${e2e.server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-edgellm-context-overflow": "error" },
    body: JSON.stringify({ model: "local", messages, max_tokens: 8 }),
  });
  assert.equal(refused.status, 400);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "context_length_exceeded");
  const bad = await fetch(`${e2e.server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-edgellm-context-overflow": "sometimes" },
    body: JSON.stringify({ model: "local", messages: [{ role: "user", content: "hi" }] }),
  });
  assert.equal(bad.status, 400);
});

test("a latest turn too long alone is still refused with 400, whatever the policy", async () => {
  const res = await fetch(`${e2e.server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "local",
      messages: [{ role: "user", content: "word ".repeat(2000) }],
      max_tokens: 8,
    }),
  });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, "context_length_exceeded");
});
