import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { eventErrors, specErrors } from "../helpers/openai-spec.js";
import { refusal } from "../helpers/refusal.js";
import { tinyServerFixture } from "../helpers/server-process.js";

// POST /v1/responses on the real `edgellm serve` with the tiny synthetic model, driven by the official
// openai SDK's `responses.create` and `responses.stream`. The model's answers are noise: shapes, event
// order and JSON validity are asserted, never content.

const e2e = tinyServerFixture(["--ctx-size", "2048"]);

const weather = {
  type: "function" as const,
  name: "get_weather",
  description: "Current weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string", maxLength: 12 } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

test("README: create, then build on it with previous_response_id", async () => {
  const client = e2e.client;
  // The README's snippet, with a token cap so the tiny model stops soon.
  const first = await client.responses.create({
    model: "local",
    input: "Name a colour.",
    max_output_tokens: 16,
  });
  console.log(first.output_text);
  const next = await client.responses.create({
    model: "local",
    input: "Another one.",
    previous_response_id: first.id,
    max_output_tokens: 16,
  });

  for (const response of [first, next]) {
    assert.match(response.id, /^resp_/);
    assert.equal(response.object, "response");
    assert.ok(["completed", "incomplete"].includes(response.status ?? ""));
    assert.equal(response.output[0].type, "message");
    assert.equal(typeof response.output_text, "string");
    const usage = response.usage;
    assert.ok(usage && usage.output_tokens >= 1 && usage.output_tokens <= 16);
    assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
  }
  assert.equal(next.previous_response_id, first.id);
  // The second turn's prompt holds the first: more input tokens, most of them reused from the KV cache.
  assert.ok((next.usage?.input_tokens ?? 0) > (first.usage?.input_tokens ?? 0));
  assert.ok((next.usage?.input_tokens_details.cached_tokens ?? 0) > 0);

  const retrieved = await client.responses.retrieve(first.id);
  assert.deepEqual(retrieved.output, first.output);
  await client.responses.delete(first.id);
  assert.deepEqual(
    await refusal(client.responses.create({ model: "local", input: "x", previous_response_id: first.id })),
    { status: 400, param: "previous_response_id", code: "previous_response_not_found" },
  );
});

test("README: responses.stream gives the Responses event sequence and a final response", async () => {
  const client = e2e.client;
  const stream = client.responses.stream({ model: "local", input: "Count to five.", max_output_tokens: 12 });
  let streamed = "";
  const types: string[] = [];
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === "response.output_text.delta") streamed += event.delta;
  }
  const final = await stream.finalResponse();

  assert.deepEqual(types.slice(0, 4), [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
  ]);
  assert.ok(types.includes("response.output_text.delta"));
  assert.deepEqual(types.slice(-4, -1), [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
  ]);
  assert.ok(["response.completed", "response.incomplete"].includes(types.at(-1) ?? ""));
  assert.equal(final.output_text, streamed);
  assert.ok(final.usage && final.usage.output_tokens >= 1);
});

test("create with stream: true: consecutive sequence numbers; max_output_tokens cut is response.incomplete", async () => {
  const stream = await e2e.client.responses.create({
    model: "local",
    input: "hi",
    max_output_tokens: 5,
    stream: true,
    ignore_eos: true,
  } as OpenAI.Responses.ResponseCreateParamsStreaming);
  const events: ResponseStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  assert.deepEqual(
    events.map((e) => e.sequence_number),
    events.map((_, i) => i),
  );
  const last = events.at(-1);
  assert.equal(last?.type, "response.incomplete");
  assert.deepEqual(last.type === "response.incomplete" && last.response.incomplete_details, {
    reason: "max_output_tokens",
  });
  assert.equal(last.type === "response.incomplete" && last.response.usage?.output_tokens, 5);
});

test("function tools: a forced call, its output sent back by previous_response_id and by full input items", async () => {
  const client = e2e.client;
  const asked = await client.responses.create({
    model: "local",
    input: "What is the weather in Paris?",
    tools: [weather],
    tool_choice: "required",
    // One call, so that the turn ends with it rather than at the token cap.
    parallel_tool_calls: false,
    max_output_tokens: 64,
    temperature: 0,
  });
  const call = asked.output.find((item) => item.type === "function_call");
  assert.ok(call && call.type === "function_call", JSON.stringify(asked.output));
  assert.equal(call.name, "get_weather");
  assert.match(call.id ?? "", /^fc_/);
  assert.equal(typeof JSON.parse(call.arguments).city, "string");
  assert.equal(asked.status, "completed");

  const output = { type: "function_call_output" as const, call_id: call.call_id, output: '{"celsius": 21}' };
  const byId = await client.responses.create({
    model: "local",
    previous_response_id: asked.id,
    input: [output],
    tools: [weather],
    max_output_tokens: 8,
  });
  assert.equal(byId.output.at(-1)?.type === "message" || byId.output.at(-1)?.type === "function_call", true);

  // Without the store, the client sends the whole conversation back, as the SDK's docs show.
  const byItems = await client.responses.create({
    model: "local",
    input: [{ role: "user", content: "What is the weather in Paris?" }, call, output],
    tools: [weather],
    max_output_tokens: 8,
    store: false,
  });
  // Both carried the same conversation: the same prompt size.
  assert.equal(byItems.usage?.input_tokens, byId.usage?.input_tokens);
});

test("text.format json_schema: the answer is JSON valid under the schema", async () => {
  const response = await e2e.client.responses.create({
    model: "local",
    input: "Give me a city and its population.",
    max_output_tokens: 200,
    temperature: 0,
    text: {
      format: {
        type: "json_schema",
        name: "city",
        strict: true,
        schema: {
          type: "object",
          properties: { name: { type: "string", maxLength: 20 }, population: { type: "integer" } },
          required: ["name", "population"],
          additionalProperties: false,
        },
      },
    },
  });
  assert.equal(response.status, "completed");
  const value = JSON.parse(response.output_text);
  assert.deepEqual(Object.keys(value).sort(), ["name", "population"]);
  assert.equal(typeof value.name, "string");
  assert.ok(Number.isInteger(value.population));
});

test("built-in tools offered are left out and named in a header; forced, they are 400s like bad input", async () => {
  const client = e2e.client;
  const { data: offered, response } = await client.responses
    .create({
      model: "local",
      input: "news?",
      tools: [{ type: "web_search" }, { type: "code_interpreter", container: { type: "auto" } }],
      max_output_tokens: 4,
    })
    .withResponse();
  assert.equal(response.headers.get("x-edgellm-tools-ignored"), "web_search, code_interpreter");
  assert.deepEqual(offered.tools, []);
  const cases: [() => Promise<unknown>, unknown, string][] = [
    [
      () =>
        client.responses.create({
          model: "local",
          input: "news?",
          tools: [{ type: "web_search" }],
          tool_choice: "required",
        }),
      "tool_choice",
      "unsupported_tool",
    ],
    [
      () =>
        client.responses.create({
          model: "local",
          input: "x",
          tools: [{ type: "code_interpreter", container: { type: "auto" } }],
          tool_choice: { type: "code_interpreter" },
        }),
      "tool_choice.type",
      "unsupported_tool",
    ],
    [
      () =>
        client.responses.create({
          model: "local",
          input: 5,
        } as unknown as OpenAI.Responses.ResponseCreateParamsNonStreaming),
      "input",
      "invalid_type",
    ],
    [
      () => client.responses.create({ model: "local", input: "x", max_output_tokens: 0 }),
      "max_output_tokens",
      "invalid_value",
    ],
    [
      () => client.responses.create({ model: "local", input: "x", background: true }),
      "background",
      "unsupported_parameter",
    ],
    [
      () => client.responses.create({ model: "local", input: "x", previous_response_id: "resp_nope" }),
      "previous_response_id",
      "previous_response_not_found",
    ],
    [
      () => client.responses.create({ model: "local", input: "word ".repeat(3000), max_output_tokens: 16 }),
      "input",
      "context_length_exceeded",
    ],
  ];
  for (const [request, param, code] of cases)
    assert.deepEqual(await refusal(request()), { status: 400, param, code }, `${param} ${code}`);
  const missing = await e2e.client.responses.retrieve("resp_nope").catch((error: unknown) => error);
  assert.ok(missing instanceof OpenAI.NotFoundError);
});

test("include logprobs, reasoning and encrypted reasoning: accepted; token logprobs come back; every event is the spec's", async () => {
  const stream = await e2e.client.responses.create({
    model: "local",
    input: "hi",
    max_output_tokens: 6,
    stream: true,
    store: false,
    include: ["message.output_text.logprobs", "reasoning.encrypted_content"],
    top_logprobs: 2,
    reasoning: { effort: "low", summary: "auto" },
  });
  const events: ResponseStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  assert.deepEqual(
    events.flatMap((event, i) => eventErrors(event).map((e) => `event ${i}: ${e}`)),
    [],
  );
  const last = events.at(-1);
  assert.ok(last && "response" in last);
  assert.deepEqual(specErrors("Response", last.response), []);
  const message = last.response.output[0];
  assert.ok(message.type === "message" && message.content[0].type === "output_text");
  const logprobs = message.content[0].logprobs ?? [];
  // Byte by byte: a token may hold part of a character.
  assert.equal(Buffer.from(logprobs.flatMap((p) => p.bytes)).toString(), message.content[0].text);
  assert.ok(logprobs.every((p) => p.top_logprobs.length === 2 && p.logprob <= 0));
  const deltas = events.flatMap((e) => (e.type === "response.output_text.delta" ? e.logprobs : []));
  assert.equal(deltas.length, logprobs.length);
});
