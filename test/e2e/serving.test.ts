import assert from "node:assert/strict";
import { test } from "node:test";
import type OpenAI from "openai";
import { tinyServerFixture } from "../helpers/server-process.js";

// The serving engine through the real server: response cache, prefix reuse, backpressure, metrics.
const e2e = tinyServerFixture(["--parallel", "2", "--max-queue", "1", "--ctx-size", "1024"]);

const question = [{ role: "user" as const, content: "What is the capital of France?" }];

test("a repeated deterministic request is a response-cache hit with byte-identical content", async () => {
  const params = { model: "local", messages: question, temperature: 0, max_tokens: 20 };
  const first = await e2e.client.chat.completions.create(params).withResponse();
  const second = await e2e.client.chat.completions.create(params).withResponse();
  assert.equal(first.response.headers.get("x-edgellm-cache"), "miss");
  assert.equal(second.response.headers.get("x-edgellm-cache"), "hit");
  assert.equal(second.data.choices[0].message.content, first.data.choices[0].message.content);
  assert.equal(second.data.usage?.completion_tokens, first.data.usage?.completion_tokens);

  const streamParams = { ...params, stream: true as const, seed: 11, temperature: 0.9 };
  const collect = async () => {
    const { data, response } = await e2e.client.chat.completions.create(streamParams).withResponse();
    const deltas: string[] = [];
    for await (const chunk of data) deltas.push(chunk.choices[0]?.delta?.content ?? "");
    return { deltas, cache: response.headers.get("x-edgellm-cache") };
  };
  const a = await collect();
  const b = await collect();
  assert.equal(a.cache, "miss");
  assert.equal(b.cache, "hit");
  assert.deepEqual(b.deltas, a.deltas, "a streamed hit has the same chunks");
});

test("sampled requests without a seed are never cached", async () => {
  const params = { model: "local", messages: question, temperature: 0.8, max_tokens: 4 };
  const { response } = await e2e.client.chat.completions.create(params).withResponse();
  assert.equal(response.headers.get("x-edgellm-cache"), null);
});

test("the second turn of a conversation reports cached prompt tokens", async () => {
  const first = await e2e.client.chat.completions.create({
    model: "local",
    messages: question,
    max_tokens: 8,
    seed: 3,
  });
  const second = await e2e.client.chat.completions.create({
    model: "local",
    messages: [
      ...question,
      { role: "assistant", content: first.choices[0].message.content ?? "" },
      { role: "user", content: "And of Germany?" },
    ],
    max_tokens: 8,
    seed: 3,
  });
  const cached = second.usage?.prompt_tokens_details?.cached_tokens ?? 0;
  assert.ok(cached >= (first.usage?.prompt_tokens ?? 0) - 1, `cached ${cached}`);
});

test("past the queue bound the answer is 429 with Retry-After, at once", async () => {
  const long = { model: "local", messages: question, max_tokens: 800, ignore_eos: true };
  const controllers = [new AbortController(), new AbortController(), new AbortController()];
  // Two slots busy and one request queued: the next one is refused.
  const running = controllers.map((c, i) =>
    e2e.client.chat.completions
      .create({ ...long, seed: i } as OpenAI.ChatCompletionCreateParamsNonStreaming, { signal: c.signal })
      .catch(() => undefined),
  );
  // Wait (bounded) until the server reports both slots busy and the queue full.
  for (let attempt = 0; attempt < 500; attempt++) {
    const metrics = await (await fetch(`${e2e.server.url}/metrics`)).text();
    if (/edgellm_queue_length 1\b/.test(metrics) && /edgellm_active_slots 2\b/.test(metrics)) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const refused = await fetch(`${e2e.server.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ messages: question, max_tokens: 2, seed: 99 }),
  });
  for (const c of controllers) c.abort();
  await Promise.all(running);
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get("retry-after")) >= 1);
  const body = (await refused.json()) as { error: { code: string; type: string } };
  assert.equal(body.error.code, "queue_full");
  assert.equal(body.error.type, "rate_limit_error");
});

/** The server's metrics now, and the number a pattern's one group matches in them (0 if absent). */
async function scrape(): Promise<{ text: string; value: (pattern: RegExp) => number }> {
  const res = await fetch(`${e2e.server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers.get("content-type")), /text\/plain/);
  const text = await res.text();
  return { text, value: (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0) };
}

test("GET /metrics reports requests, tokens, queue, slots, latency histograms and cache hits", async () => {
  // Counted from what this test sends, whatever the tests before it left.
  const before = await scrape();
  const messages = [{ role: "user" as const, content: "Which metrics does this server keep?" }];
  const deterministic = { model: "local", messages, temperature: 0, max_tokens: 6 };
  await e2e.client.chat.completions.create(deterministic);
  await e2e.client.chat.completions.create(deterministic); // a response-cache hit
  // Sampled, so never cached: the second reuses the first one's prompt in its slot's KV cache.
  const sampled = { ...deterministic, temperature: 0.8 };
  await e2e.client.chat.completions.create(sampled);
  await e2e.client.chat.completions.create(sampled);
  const after = await scrape();
  const grew = (pattern: RegExp) => after.value(pattern) - before.value(pattern);

  assert.equal(grew(/edgellm_requests_total\{endpoint="chat",route="local",outcome="ok"\} (\d+)/), 4);
  assert.ok(grew(/edgellm_prompt_tokens_total\{route="local"\} (\d+)/) >= 4 * 10);
  assert.ok(grew(/edgellm_completion_tokens_total\{route="local"\} (\d+)/) > 0);
  assert.ok(grew(/edgellm_cached_prompt_tokens_total (\d+)/) > 0);
  assert.equal(grew(/edgellm_response_cache_total\{result="hit"\} (\d+)/), 1);
  assert.ok(grew(/edgellm_time_to_first_token_seconds_count\{route="local"\} (\d+)/) >= 1);
  assert.match(after.text, /edgellm_time_per_output_token_seconds_bucket/);
  assert.match(after.text, /edgellm_queue_length \d+/);
  assert.match(after.text, /edgellm_active_slots \d+/);
  assert.ok(after.value(/edgellm_process_resident_memory_bytes (\d+)/) > 0);
});
