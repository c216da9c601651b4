import assert from "node:assert/strict";
import { test } from "node:test";
import { buildServer } from "../../src/api/server.js";
import { MeteredProvider, Metrics } from "../../src/metrics.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { FakeEngine } from "../helpers/fake-engine.js";

async function setup(
  options: { slots?: number; maxQueue?: number; contextSize?: number; attach?: boolean } = {},
) {
  const engine = new FakeEngine(options.slots ?? 1, options.contextSize ?? 256);
  const scheduler = new Scheduler({ maxQueue: options.maxQueue ?? 64 });
  if (options.attach !== false) scheduler.attach(engine);
  const app = await buildServer({ provider: scheduler, bodyLimit: 4096 });
  return { app, engine, scheduler };
}

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  messages: [{ role: "user", content }],
  ...extra,
});

/** A parsed SSE data payload: a chunk, or the "[DONE]" marker (kept as is for assertions). */
interface Chunk {
  choices: { delta: { role?: string; content?: string }; text?: string; finish_reason: string | null }[];
  usage?: { completion_tokens: number };
}

function sseEvents(body: string): Chunk[] {
  return body
    .split("\n\n")
    .filter((block) => block.startsWith("data: "))
    .map((block) => block.slice(6))
    .map((data) => (data === "[DONE]" ? data : JSON.parse(data)));
}

function assertOpenAIError(
  body: unknown,
  expect: { type?: string; code?: string | null; param?: string | null },
) {
  const { error } = body as { error: Record<string, unknown> };
  assert.equal(typeof error.message, "string");
  assert.ok((error.message as string).length > 0);
  assert.deepEqual(Object.keys(error).sort(), ["code", "message", "param", "type"]);
  if (expect.type) assert.equal(error.type, expect.type);
  if (expect.code !== undefined) assert.equal(error.code, expect.code);
  if (expect.param !== undefined) assert.equal(error.param, expect.param);
}

test("health and models answer 503 while loading, then 200", async () => {
  const { app, scheduler, engine } = await setup({ attach: false });
  let res = await app.inject({ method: "GET", url: "/health" });
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers["retry-after"], "1");
  assertOpenAIError(res.json(), { code: "model_loading" });
  res = await app.inject({ method: "POST", url: "/v1/chat/completions", payload: chat("hi") });
  assert.equal(res.statusCode, 503);
  assertOpenAIError(res.json(), { code: "model_loading" });
  scheduler.attach(engine);
  res = await app.inject({ method: "GET", url: "/health" });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { status: "ok" });
  res = await app.inject({ method: "GET", url: "/v1/models" });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().data[0].id, "fake-model");
  assert.equal(res.json().object, "list");
});

test("chat completion returns the OpenAI shape with usage", async () => {
  const { app } = await setup();
  const res = await app.inject({ method: "POST", url: "/v1/chat/completions", payload: chat("abc") });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.object, "chat.completion");
  assert.match(body.id, /^chatcmpl-/);
  assert.equal(body.model, "fake-model");
  assert.equal(body.choices[0].message.role, "assistant");
  assert.equal(body.choices[0].message.content, "|cba:resu");
  assert.equal(body.choices[0].finish_reason, "stop");
  assert.equal(body.usage.prompt_tokens, "user:abc|".length);
  assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + body.usage.completion_tokens);
});

test("streamed chat sends a role chunk, deltas, a finish chunk, usage and [DONE]", async () => {
  const { app } = await setup();
  const res = await app.inject({
    method: "POST",
    url: "/v1/chat/completions",
    payload: chat("abc", { stream: true, stream_options: { include_usage: true }, max_tokens: 4 }),
  });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /text\/event-stream/);
  const events = sseEvents(res.body);
  assert.equal(events.at(-1), "[DONE]");
  assert.deepEqual(events[0].choices[0].delta, { role: "assistant", content: "" });
  const text = events
    .slice(1, -3)
    .map((e) => e.choices[0].delta.content)
    .join("");
  assert.equal(text, "|cba");
  assert.equal(events.at(-3)?.choices[0].finish_reason, "length");
  assert.deepEqual(events.at(-2)?.choices, []);
  assert.equal(events.at(-2)?.usage?.completion_tokens, 4);
});

test("text completion works as non-stream and stream, with and without a model field", async () => {
  const { app } = await setup({ contextSize: 1024 });
  let res = await app.inject({
    method: "POST",
    url: "/v1/completions",
    payload: {
      prompt: "请用JSON格式返回北京今天的天气信息,包含温度、湿度和风速。",
      max_tokens: 512,
      temperature: 0.7,
    },
  });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().object, "text_completion");
  assert.equal(
    res.json().choices[0].text,
    [..."请用JSON格式返回北京今天的天气信息,包含温度、湿度和风速。"].reverse().join(""),
  );
  res = await app.inject({
    method: "POST",
    url: "/v1/completions",
    payload: { model: "local", prompt: "xy", stream: true },
  });
  const events = sseEvents(res.body);
  assert.equal(events.at(-1), "[DONE]");
  assert.equal(
    events
      .slice(0, -1)
      .map((e) => e.choices[0].text)
      .join(""),
    "yx",
  );
});

test("a body sent without a JSON content type (curl -d) is still read as JSON", async () => {
  const { app } = await setup();
  const res = await app.inject({
    method: "POST",
    url: "/v1/chat/completions",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: JSON.stringify(chat("hi")),
  });
  assert.equal(res.statusCode, 200);
});

test("errors are OpenAI-shaped with the right status", async () => {
  const { app } = await setup({ contextSize: 50 });
  const post = (payload: string | object, url = "/v1/chat/completions") =>
    app.inject({ method: "POST", url, headers: { "content-type": "application/json" }, payload });

  let res = await post("{not json");
  assert.equal(res.statusCode, 400);
  assertOpenAIError(res.json(), { type: "invalid_request_error", code: "invalid_json" });

  res = await post("");
  assert.equal(res.statusCode, 400);
  assertOpenAIError(res.json(), { code: "invalid_json" });

  res = await post(chat("hi", { temperature: 5 }));
  assert.equal(res.statusCode, 400);
  assertOpenAIError(res.json(), { param: "temperature" });

  res = await post(chat("hi", { model: "gpt-4o" }));
  assert.equal(res.statusCode, 404);
  assertOpenAIError(res.json(), { code: "model_not_found", param: "model" });

  res = await post(chat("hi", { max_tokens: 45 }));
  assert.equal(res.statusCode, 400);
  assertOpenAIError(res.json(), { code: "context_length_exceeded", param: "max_tokens" });
  // OpenAI's wording, which clients such as LangChain recognise an overflow by.
  assert.match(
    res.json().error.message,
    /^This model's maximum context length is 50 tokens\. However, you requested \d+ tokens \(\d+ in the messages, 45 in the completion\)\. Please reduce the length of the messages or max_tokens\.$/,
  );

  res = await post(chat("x".repeat(3000)));
  assert.equal(res.statusCode, 400);
  assertOpenAIError(res.json(), { code: "context_length_exceeded" });

  res = await post(chat("x".repeat(5000)));
  assert.equal(res.statusCode, 413);
  assertOpenAIError(res.json(), { code: "payload_too_large" });

  res = await app.inject({ method: "GET", url: "/v1/nothing" });
  assert.equal(res.statusCode, 404);
  assertOpenAIError(res.json(), { code: "not_found" });

  res = await app.inject({ method: "GET", url: "/v1/models/gpt-4o" });
  assert.equal(res.statusCode, 404);
});

test("a full queue answers 429 with Retry-After", async () => {
  const { app, engine } = await setup({ maxQueue: 0 });
  engine.stepDelayMs = 20;
  const running = app.inject({ method: "POST", url: "/v1/chat/completions", payload: chat("a long prompt") });
  await new Promise((r) => setTimeout(r, 10));
  const res = await app.inject({ method: "POST", url: "/v1/chat/completions", payload: chat("b") });
  assert.equal(res.statusCode, 429);
  assert.ok(Number(res.headers["retry-after"]) >= 1);
  assertOpenAIError(res.json(), { type: "rate_limit_error", code: "queue_full" });
  assert.equal((await running).statusCode, 200);
});

test("an empty prompt is a 400 naming it, and the server and its metrics stay sound", async () => {
  // The fake engine, like Qwen, gives an empty prompt no token at all: generating from it went wrong.
  const engine = new FakeEngine(1, 256);
  const scheduler = new Scheduler();
  scheduler.attach(engine);
  const metrics = new Metrics();
  const app = await buildServer({ provider: new MeteredProvider(scheduler, metrics), metrics });
  for (const prompt of ["", [""]]) {
    for (const stream of [false, true]) {
      const res = await app.inject({ method: "POST", url: "/v1/completions", payload: { prompt, stream } });
      assert.equal(res.statusCode, 400, res.body);
      assertOpenAIError(res.json(), {
        code: "invalid_value",
        param: Array.isArray(prompt) ? "prompt[0]" : "prompt",
      });
    }
  }
  assert.equal(engine.calls.length, 0);
  const ok = await app.inject({ method: "POST", url: "/v1/completions", payload: { prompt: "ab" } });
  assert.equal(ok.statusCode, 200);
  const text = (await app.inject({ method: "GET", url: "/metrics" })).body;
  assert.match(text, /edgellm_prompt_tokens_total\{route="local"\} 2\n/);
  assert.doesNotMatch(text, /outcome="internal_error"/);
});
