import assert from "node:assert/strict";
import { test } from "node:test";
import type OpenAI from "openai";
import { checkJson } from "../../src/structured/validator.js";
import { tinyServerFixture } from "../helpers/server-process.js";

// Structured output, tool calling and logprobs through the real server and the official client.
// The response cache is off: these tests repeat seeded requests on purpose, to compare answers.
const e2e = tinyServerFixture(["--ctx-size", "2048", "--parallel", "1", "--no-response-cache", "--no-cloud"]);

const weather = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", maxLength: 12 },
        unit: { enum: ["celsius", "fahrenheit"] },
      },
      required: ["city", "unit"],
      additionalProperties: false,
    },
  },
};
const time = {
  type: "function" as const,
  function: {
    name: "get_time",
    parameters: {
      type: "object",
      properties: { zone: { type: "string", maxLength: 6 } },
      required: ["zone"],
    },
  },
};
const tools = [weather, time];
const ask = [{ role: "user" as const, content: "What is the weather in 北京? 😀" }];

function parametersOf(name: string) {
  const tool = tools.find((t) => t.function.name === name);
  assert.ok(tool, `unknown tool ${name}`);
  return tool.function.parameters;
}

test("tool_choice required: every call names a tool and its arguments validate", async () => {
  for (let seed = 1; seed <= 4; seed++) {
    const completion = await e2e.client.chat.completions.create({
      model: "local",
      messages: ask,
      tools,
      tool_choice: "required",
      parallel_tool_calls: false,
      max_tokens: 80,
      temperature: 1,
      seed,
    });
    const choice = completion.choices[0];
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, null);
    const calls = choice.message.tool_calls ?? [];
    assert.equal(calls.length, 1);
    const call = calls[0];
    assert.equal(call.type, "function");
    assert.match(call.id, /^call_/);
    if (call.type !== "function") continue;
    const verdict = checkJson(call.function.arguments, parametersOf(call.function.name));
    assert.ok(verdict.ok, `${call.function.arguments}: ${verdict.ok ? "" : verdict.error}`);
  }
});

test("a named tool_choice forces that function", async () => {
  for (let seed = 1; seed <= 3; seed++) {
    const completion = await e2e.client.chat.completions.create({
      model: "local",
      messages: ask,
      tools,
      tool_choice: { type: "function", function: { name: "get_time" } },
      max_tokens: 120,
      temperature: 1,
      seed,
    });
    const calls = completion.choices[0].message.tool_calls ?? [];
    assert.ok(calls.length >= 1);
    for (const call of calls) {
      assert.ok(call.type === "function");
      assert.equal(call.function.name, "get_time");
      assert.ok(checkJson(call.function.arguments, time.function.parameters).ok, call.function.arguments);
    }
  }
});

test("a two-step tool loop round-trips: assistant tool_calls and the tool result go back in", async () => {
  const first = await e2e.client.chat.completions.create({
    model: "local",
    messages: ask,
    tools,
    tool_choice: "required",
    parallel_tool_calls: false,
    max_tokens: 80,
    seed: 3,
  });
  const message = first.choices[0].message;
  const call = message.tool_calls?.[0];
  assert.ok(call && call.type === "function");
  const second = await e2e.client.chat.completions.create({
    model: "local",
    messages: [
      ...ask,
      message,
      { role: "tool", tool_call_id: call.id, content: JSON.stringify({ temperature: 21, sky: "晴" }) },
    ],
    tools,
    tool_choice: "none",
    max_tokens: 12,
    seed: 3,
  });
  assert.equal(typeof second.choices[0].message.content, "string");
  assert.equal(second.choices[0].message.tool_calls, undefined);
  // The history is rendered the way Qwen2.5's template does it: the call and the tool response are in the prompt.
  assert.ok((second.usage?.prompt_tokens ?? 0) > (first.usage?.prompt_tokens ?? 0) + 20);
});

test("streamed tool-call deltas assemble to the same call as the non-streaming answer", async () => {
  const params = {
    model: "local",
    messages: ask,
    tools,
    tool_choice: "required" as const,
    parallel_tool_calls: false,
    max_tokens: 80,
    temperature: 1,
    seed: 11,
  };
  const full = await e2e.client.chat.completions.create(params);
  const expected = full.choices[0].message.tool_calls?.[0];
  assert.ok(expected && expected.type === "function");
  const stream = await e2e.client.chat.completions.create({ ...params, stream: true });
  const assembled: { id?: string; name?: string; arguments: string }[] = [];
  let finish: string | null = null;
  let fragments = 0;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.finish_reason) finish = choice.finish_reason;
    for (const delta of choice.delta.tool_calls ?? []) {
      assembled[delta.index] ??= { arguments: "" };
      const call = assembled[delta.index];
      if (delta.id) {
        assert.equal(call.id, undefined, "id comes once, on the first fragment");
        call.id = delta.id;
        call.name = delta.function?.name;
      } else fragments++;
      call.arguments += delta.function?.arguments ?? "";
    }
  }
  assert.equal(finish, "tool_calls");
  assert.equal(assembled.length, 1);
  assert.match(assembled[0].id ?? "", /^call_/);
  assert.equal(assembled[0].name, expected.function.name);
  assert.equal(assembled[0].arguments, expected.function.arguments);
  assert.ok(fragments > 1, "arguments arrive in fragments");
});

test("json_schema: the streamed deltas concatenate to a valid document equal to the non-streaming one", async () => {
  const schema = {
    type: "object",
    properties: {
      city: { type: "string", maxLength: 10 },
      days: {
        type: "array",
        items: { type: "integer", minimum: -20, maximum: 40 },
        minItems: 1,
        maxItems: 3,
      },
    },
    required: ["city", "days"],
  };
  const params = {
    model: "local",
    messages: ask,
    max_tokens: 120,
    temperature: 1,
    seed: 5,
    response_format: {
      type: "json_schema" as const,
      json_schema: { name: "forecast", schema, strict: true },
    },
  };
  const full = await e2e.client.chat.completions.create(params);
  assert.equal(full.choices[0].finish_reason, "stop");
  const text = full.choices[0].message.content ?? "";
  assert.ok(checkJson(text, schema).ok, text);
  let streamed = "";
  for await (const chunk of await e2e.client.chat.completions.create({ ...params, stream: true })) {
    streamed += chunk.choices[0]?.delta.content ?? "";
  }
  assert.equal(streamed, text);
});

test("json_object on /v1/completions gives a JSON object", async () => {
  const completion = await e2e.client.completions.create({
    model: "local",
    prompt: "JSON:",
    max_tokens: 200,
    seed: 2,
    response_format: { type: "json_object" },
  } as OpenAI.CompletionCreateParamsNonStreaming);
  const choice = completion.choices[0];
  if (choice.finish_reason === "stop") assert.ok(checkJson(choice.text, undefined).ok, choice.text);
  else assert.equal(choice.finish_reason, "length");
});

test("a document cut by max_tokens is finish_reason length, never stop", async () => {
  const completion = await e2e.client.chat.completions.create({
    model: "local",
    messages: ask,
    max_tokens: 4,
    seed: 1,
    response_format: {
      type: "json_schema",
      json_schema: {
        name: "long",
        schema: { type: "object", properties: { a: { type: "string", minLength: 20 } }, required: ["a"] },
      },
    },
  });
  assert.equal(completion.choices[0].finish_reason, "length");
  assert.ok(!checkJson(completion.choices[0].message.content ?? "", undefined).ok);
});

test("a schema keyword the grammar cannot enforce is a 400 naming it", async () => {
  const res = await fetch(`${e2e.server.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({
      messages: ask,
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "x",
          schema: { type: "object", properties: { n: { type: "integer", multipleOf: 3 } } },
        },
      },
    }),
  });
  assert.equal(res.status, 400);
  const body = (await res.json()) as { error: { param: string; code: string; message: string } };
  assert.equal(body.error.param, "response_format.json_schema.schema.properties.n.multipleOf");
  assert.equal(body.error.code, "unsupported_schema");
  const tool = await fetch(`${e2e.server.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({
      messages: ask,
      tools: [
        {
          type: "function",
          function: {
            name: "f",
            parameters: { type: "object", properties: { s: { type: "array", uniqueItems: true } } },
          },
        },
      ],
      tool_choice: "required",
    }),
  });
  assert.equal(tool.status, 400);
  assert.equal(
    ((await tool.json()) as { error: { param: string } }).error.param,
    "tools[0].function.parameters.properties.s.uniqueItems",
  );
});

test("logprobs and top_logprobs have OpenAI's shape, streaming and not", async () => {
  const params = { model: "local", messages: ask, max_tokens: 6, seed: 9, logprobs: true, top_logprobs: 3 };
  const full = await e2e.client.chat.completions.create(params);
  const content = full.choices[0].logprobs?.content ?? [];
  assert.equal(content.length, full.usage?.completion_tokens);
  for (const entry of content) {
    assert.equal(typeof entry.token, "string");
    assert.ok(entry.logprob <= 0);
    assert.ok(Array.isArray(entry.bytes) && (entry.bytes?.length ?? 0) > 0);
    assert.equal(entry.top_logprobs.length, 3);
    const sorted = [...entry.top_logprobs].sort((a, b) => b.logprob - a.logprob);
    assert.deepEqual(entry.top_logprobs, sorted);
  }
  const bytes = content.flatMap((e) => e.bytes ?? []);
  assert.equal(Buffer.from(bytes).toString("utf8"), full.choices[0].message.content);
  const streamed: OpenAI.ChatCompletionTokenLogprob[] = [];
  for await (const chunk of await e2e.client.chat.completions.create({ ...params, stream: true })) {
    streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
  }
  assert.deepEqual(streamed, content);
  const refused = await fetch(`${e2e.server.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ messages: ask, top_logprobs: 21, logprobs: true }),
  });
  assert.equal(refused.status, 400);
});
