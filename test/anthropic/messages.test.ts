import assert from "node:assert/strict";
import { test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { fromMessagesRequest } from "../../src/anthropic/from-messages-request.js";
import { messagesRequestSchema } from "../../src/anthropic/messages-schema.js";
import { toAnthropicError } from "../../src/anthropic/to-error.js";
import { MessageBuilder } from "../../src/anthropic/to-message.js";
import { apiKey } from "../../src/api/security/keys.js";
import { buildServer } from "../../src/api/server.js";
import { validate } from "../../src/api/validation.js";
import { ContextOverflowError, ModelNotFoundError, QueueFullError } from "../../src/provider/errors.js";
import type { GenerateRequest, ModelProvider, StreamPart } from "../../src/provider/types.js";

// Anthropic's Messages API: the translation both ways as pure functions, then the route in process on a
// scripted provider, driven by the official @anthropic-ai/sdk.

const usage = { promptTokens: 30, completionTokens: 4, cachedTokens: 20 };
const translate = (body: unknown) => fromMessagesRequest(validate(messagesRequestSchema, body));

test("system, text, tool_use and tool_result (is_error too) become our chat messages in order", () => {
  const { parsed, ignoredTools } = translate({
    model: "m",
    max_tokens: 50,
    system: [
      { type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } },
      { type: "text", text: "Use tools." },
    ],
    messages: [
      { role: "user", content: [{ type: "text", text: "weather?", cache_control: { type: "ephemeral" } }] },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "hm", signature: "s" },
          { type: "text", text: "Checking." },
          { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Oslo" } },
        ],
      },
      {
        role: "user",
        content: [
          {
            type: "tool_result",
            tool_use_id: "toolu_1",
            content: [{ type: "text", text: "no such city" }],
            is_error: true,
          },
          { type: "text", text: "and now?" },
        ],
      },
      { role: "system", content: "Mid-conversation note." },
      { role: "user", content: "ok" },
    ],
    tools: [
      { name: "get_weather", input_schema: { type: "object", properties: { city: { type: "string" } } } },
      { type: "web_search_20250305", name: "web_search", max_uses: 3 },
    ],
    tool_choice: { type: "auto", disable_parallel_tool_use: true },
    stop_sequences: ["END"],
    temperature: 0,
    top_k: 5,
    thinking: { type: "adaptive" },
    context_management: { edits: [{ type: "clear_thinking_20251015", keep: "all" }] },
    output_config: { effort: "high" },
    metadata: { user_id: "u" },
  });
  assert.deepEqual(parsed.prompt, {
    kind: "chat",
    messages: [
      { role: "system", content: "Be brief.\n\nUse tools." },
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: "Checking.",
        toolCalls: [{ id: "toolu_1", name: "get_weather", arguments: '{"city":"Oslo"}' }],
      },
      { role: "tool", content: "Error: no such city", toolCallId: "toolu_1" },
      { role: "user", content: "and now?" },
      { role: "system", content: "Mid-conversation note." },
      { role: "user", content: "ok" },
    ],
    tools: [
      { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
    ],
  });
  assert.deepEqual(ignoredTools, ["web_search_20250305"]);
  assert.equal(parsed.controls.toolChoice, "auto");
  assert.equal(parsed.controls.parallelToolCalls, false);
  assert.deepEqual(
    [parsed.sampling.maxTokens, parsed.sampling.stop, parsed.sampling.temperature, parsed.sampling.topK],
    [50, ["END"], 0, 5],
  );
});

test("tool_choice any and tool are grammar-forced calls; forcing a server tool is refused by name", () => {
  const tools = [
    { name: "a", input_schema: { type: "object" } },
    { type: "web_search_20250305", name: "web_search" },
  ];
  const base = { model: "m", max_tokens: 5, messages: [{ role: "user", content: "x" }], tools };
  assert.equal(translate({ ...base, tool_choice: { type: "any" } }).parsed.controls.toolChoice, "required");
  assert.deepEqual(
    translate({ ...base, tool_choice: { type: "tool", name: "a" } }).parsed.controls.toolChoice,
    {
      name: "a",
    },
  );
  assert.equal(translate({ ...base, tool_choice: { type: "none" } }).parsed.controls.toolChoice, "none");
  assert.throws(
    () => translate({ ...base, tool_choice: { type: "tool", name: "web_search" } }),
    /web_search/,
  );
  assert.throws(
    () => translate({ ...base, tools: [tools[1]], tool_choice: { type: "any" } }),
    /web_search_20250305/,
  );
});

test("images, documents, thinking budgets, prefill and MCP servers are refused by name", () => {
  const ask =
    (content: unknown, extra = {}) =>
    () =>
      translate({ model: "m", max_tokens: 5, messages: [{ role: "user", content }], ...extra });
  assert.throws(ask([{ type: "image", source: { type: "base64" } }]), {
    param: "messages[0].content[0].type",
    message: /'image' blocks are not supported/,
  });
  assert.throws(ask([{ type: "document", source: {} }]), /'document'/);
  assert.throws(
    ask([{ type: "tool_result", tool_use_id: "t", content: [{ type: "image", source: {} }] }]),
    /'image'/,
  );
  assert.throws(ask("x", { thinking: { type: "enabled", budget_tokens: 1024 } }), /budget_tokens/);
  assert.throws(ask("x", { mcp_servers: [{ type: "url", url: "http://x" }] }), /mcp_servers/);
  assert.throws(
    ask("x", { context_management: { edits: [{ type: "clear_tool_uses_20250919" }] } }),
    /clear_tool_uses_20250919/,
  );
  assert.throws(
    () =>
      translate({
        model: "m",
        max_tokens: 5,
        messages: [
          { role: "user", content: "x" },
          { role: "assistant", content: "The answer is" },
        ],
      }),
    /prefill/,
  );
  assert.throws(() => translate({ model: "m", messages: [{ role: "user", content: "x" }] }), /max_tokens/);
});

test("the builder writes Anthropic's event sequence and the same message whole", () => {
  const builder = new MessageBuilder({ id: "msg_1", model: "m" });
  const events = [
    ...builder.start(),
    ...builder.push({ type: "text-delta", text: "Let me " }),
    ...builder.push({ type: "text-delta", text: "check." }),
    ...builder.push({ type: "tool-call-delta", index: 0, id: "call_1", name: "f", argumentsDelta: "" }),
    ...builder.push({ type: "tool-call-delta", index: 0, argumentsDelta: '{"a":' }),
    ...builder.push({ type: "tool-call-delta", index: 0, argumentsDelta: "1}" }),
    ...builder.push({ type: "finish", finishReason: "tool_calls", usage }),
  ];
  assert.deepEqual(
    events.map((e) => e.type),
    [
      "message_start",
      "ping",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ],
  );
  assert.deepEqual(builder.message(), {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "m",
    content: [
      { type: "text", text: "Let me check." },
      { type: "tool_use", id: "call_1", name: "f", input: { a: 1 } },
    ],
    stop_reason: "tool_use",
    stop_sequence: null,
    // The prefix cache's reuse is Anthropic's cache read, counted apart from input_tokens.
    usage: {
      input_tokens: 10,
      output_tokens: 4,
      cache_read_input_tokens: 20,
      cache_creation_input_tokens: 0,
    },
  });
});

test("stop reasons: a stop string, the length cap, and the context filling up when max_tokens did not fit", () => {
  const stopped = new MessageBuilder({ id: "x", model: "m" });
  stopped.push({ type: "finish", finishReason: "stop", usage, stopSequence: "END" });
  assert.deepEqual(
    [stopped.message().stop_reason, stopped.message().stop_sequence],
    ["stop_sequence", "END"],
  );
  const ended = new MessageBuilder({ id: "x", model: "m" });
  ended.push({ type: "finish", finishReason: "stop", usage });
  assert.equal(ended.message().stop_reason, "end_turn");
  const cut = new MessageBuilder({ id: "x", model: "m" });
  cut.push({ type: "finish", finishReason: "length", usage });
  assert.equal(cut.message().stop_reason, "max_tokens");
  const full = new MessageBuilder({ id: "x", model: "m", uncapped: true });
  full.push({ type: "finish", finishReason: "length", usage });
  assert.equal(full.message().stop_reason, "model_context_window_exceeded");
});

test("errors map to Anthropic's types and statuses", () => {
  const cases: [number, string, string, number][] = [
    [400, "invalid_value", "invalid_request_error", 400],
    [401, "invalid_api_key", "authentication_error", 401],
    [403, "origin_not_allowed", "permission_error", 403],
    [404, "model_not_found", "not_found_error", 404],
    [413, "payload_too_large", "request_too_large", 413],
    [429, "rate_limit_exceeded", "rate_limit_error", 429],
    [429, "queue_full", "overloaded_error", 529],
    [503, "model_loading", "overloaded_error", 529],
    [500, "internal_error", "api_error", 500],
    [502, "upstream_server_error", "api_error", 500],
  ];
  for (const [status, code, type, wire] of cases) {
    const { status: got, body } = toAnthropicError(status, code, "m");
    assert.deepEqual([got, body.type, body.error.type], [wire, "error", type], code);
  }
});

class ScriptedProvider implements ModelProvider {
  readonly state = "ready" as const;
  readonly requests: GenerateRequest[] = [];
  constructor(private readonly script: (request: GenerateRequest) => AsyncIterable<StreamPart>) {}
  stream(request: GenerateRequest) {
    this.requests.push(request);
    return this.script(request);
  }
  listModels() {
    return [{ id: "m", created: 0, ownedBy: "test", contextSize: 1000 }];
  }
  resolveModel(name: string | undefined) {
    if (name !== "m" && name !== "claude-sonnet-4-5") throw new ModelNotFoundError(String(name));
    return "m";
  }
}

async function* toolAnswer(request: GenerateRequest): AsyncGenerator<StreamPart> {
  yield { type: "meta", meta: { route: "local", routeReason: "test" } };
  if (request.toolChoice === "required") {
    yield { type: "tool-call-delta", index: 0, id: "call_1", name: "get_weather", argumentsDelta: "" };
    yield { type: "tool-call-delta", index: 0, argumentsDelta: '{"city":"Oslo"}' };
    yield { type: "finish", finishReason: "tool_calls", usage };
    return;
  }
  yield { type: "text-delta", text: "Sunny" };
  yield { type: "text-delta", text: " in Oslo." };
  yield { type: "finish", finishReason: "stop", usage };
}

async function listening(provider: ModelProvider, options: Parameters<typeof buildServer>[0] = { provider }) {
  const app = await buildServer({ ...options, provider });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  return { app, url };
}

const weatherTool = {
  name: "get_weather",
  description: "Weather in a city",
  input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] },
};

test("the official SDK: create, stream helpers, a tools round trip and countTokens", async (t) => {
  const provider = new ScriptedProvider(toolAnswer);
  const { app, url } = await listening(provider, { provider, countTokens: async () => 42 });
  t.after(() => app.close());
  const client = new Anthropic({ baseURL: url, apiKey: "unused", maxRetries: 0 });

  const called = await client.messages.create({
    model: "m",
    max_tokens: 100,
    tools: [weatherTool],
    tool_choice: { type: "any" },
    messages: [{ role: "user", content: "Weather in Oslo?" }],
  });
  assert.equal(called.stop_reason, "tool_use");
  const use = called.content.find((b) => b.type === "tool_use");
  assert.ok(use?.type === "tool_use");
  assert.deepEqual(use.input, { city: "Oslo" });
  assert.equal(called.usage.cache_read_input_tokens, 20);

  const stream = client.messages.stream({
    model: "claude-sonnet-4-5",
    max_tokens: 100,
    tools: [weatherTool],
    messages: [
      { role: "user", content: "Weather in Oslo?" },
      { role: "assistant", content: called.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "sunny" }] },
    ],
  });
  const texts: string[] = [];
  stream.on("text", (delta) => texts.push(delta));
  const final = await stream.finalMessage();
  assert.deepEqual(texts, ["Sunny", " in Oslo."]);
  assert.equal(final.content[0].type === "text" && final.content[0].text, "Sunny in Oslo.");
  assert.equal(final.stop_reason, "end_turn");
  assert.deepEqual([final.usage.input_tokens, final.usage.output_tokens], [10, 4]);
  const back = provider.requests[1].prompt;
  assert.ok(back.kind === "chat");
  assert.deepEqual(back.messages.slice(1), [
    {
      role: "assistant",
      content: "",
      toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Oslo"}' }],
    },
    { role: "tool", content: "sunny", toolCallId: "call_1" },
  ]);

  const counted = await client.messages.countTokens({
    model: "m",
    messages: [{ role: "user", content: "hi" }],
  });
  assert.equal(counted.input_tokens, 42);
});

test("max_tokens over what fits beside the prompt is lifted; a server tool offered is left out, in a header", async (t) => {
  const provider = new ScriptedProvider(toolAnswer);
  const { app } = await listening(provider, { provider, countTokens: async () => 900 });
  t.after(() => app.close());
  const post = (body: object) =>
    app.inject({
      method: "POST",
      url: "/v1/messages",
      payload: { model: "m", messages: [{ role: "user", content: "x" }], ...body },
    });
  const small = await post({ max_tokens: 100 });
  assert.equal(small.statusCode, 200);
  assert.equal(provider.requests[0].sampling.maxTokens, 100);
  const large = await post({
    max_tokens: 64000,
    tools: [{ type: "web_search_20250305", name: "web_search" }],
  });
  assert.equal(provider.requests[1].sampling.maxTokens, undefined);
  assert.equal(large.headers["x-edgellm-tools-ignored"], "web_search_20250305");
  await post({ max_tokens: 101 });
  assert.equal(provider.requests[2].sampling.maxTokens, undefined, "900 + 101 > 1000");
});

test("errors come in Anthropic's shape: bad body, unknown model, a key missing or wrong (x-api-key or Bearer), a full queue", async (t) => {
  let fail: Error | undefined;
  const provider = new ScriptedProvider(async function* (request) {
    if (fail) throw fail;
    yield* toolAnswer(request);
  });
  const app = await buildServer({ provider, security: { keys: [apiKey("sk-good")] } });
  t.after(() => app.close());
  const post = (payload: object, headers: Record<string, string> = { "x-api-key": "sk-good" }) =>
    app.inject({ method: "POST", url: "/v1/messages", payload, headers });
  const ask = { model: "m", max_tokens: 5, messages: [{ role: "user", content: "x" }] };

  const missing = await post({ model: "m", messages: [] });
  assert.equal(missing.statusCode, 400);
  assert.deepEqual(missing.json().type, "error");
  assert.equal(missing.json().error.type, "invalid_request_error");

  const noKey = await post(ask, {});
  assert.equal(noKey.statusCode, 401);
  assert.equal(noKey.json().error.type, "authentication_error");
  assert.equal((await post(ask, { "x-api-key": "sk-bad" })).statusCode, 401);
  assert.equal((await post(ask, { authorization: "Bearer sk-good" })).statusCode, 200);
  assert.equal(
    (
      await post(ask, {
        "x-api-key": "sk-good",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "some-future-beta-2099-01-01",
      })
    ).statusCode,
    200,
  );

  const unknown = await app.inject({
    method: "POST",
    url: "/v1/messages/count_tokens",
    payload: { model: "other", messages: [{ role: "user", content: "x" }] },
    headers: { "x-api-key": "sk-good" },
  });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().error.type, "not_found_error");

  fail = new QueueFullError();
  const busy = await post(ask);
  assert.equal(busy.statusCode, 529);
  assert.equal(busy.json().error.type, "overloaded_error");
  assert.ok(busy.headers["retry-after"]);

  fail = new ContextOverflowError(() => "The prompt does not fit the context.");
  const overflow = await post(ask);
  assert.equal(overflow.statusCode, 400);
  assert.match(overflow.json().error.message, /messages: The prompt does not fit/);
  // The OpenAI routes keep OpenAI's shape.
  const chat = await app.inject({
    method: "POST",
    url: "/v1/chat/completions",
    payload: {},
    headers: { "x-api-key": "sk-good" },
  });
  assert.ok(chat.json().error.code);
});

test("an error after the stream began is an `error` event", async (t) => {
  const provider = new ScriptedProvider(async function* () {
    yield { type: "text-delta", text: "Hel" };
    throw new QueueFullError();
  });
  const app = await buildServer({ provider });
  t.after(() => app.close());
  const res = await app.inject({
    method: "POST",
    url: "/v1/messages",
    payload: { model: "m", max_tokens: 5, stream: true, messages: [{ role: "user", content: "x" }] },
  });
  const events = [...res.body.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
  assert.deepEqual(events, ["message_start", "ping", "content_block_start", "content_block_delta", "error"]);
  assert.match(res.body, /"type":"overloaded_error"/);
});

test("an unknown path under /v1/messages and a body over the limit are answered in Anthropic's shape too", async (t) => {
  const provider = new ScriptedProvider(async function* (request) {
    yield* toolAnswer(request);
  });
  const app = await buildServer({ provider, bodyLimit: 1024 });
  t.after(() => app.close());
  const unknown = await app.inject({ method: "POST", url: "/v1/messages/batches", payload: {} });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().type, "error");
  assert.equal(unknown.json().error.type, "not_found_error");
  const large = await app.inject({
    method: "POST",
    url: "/v1/messages",
    payload: { model: "m", max_tokens: 5, messages: [{ role: "user", content: "x".repeat(4096) }] },
  });
  assert.equal(large.statusCode, 413);
  assert.equal(large.json().error.type, "request_too_large");
  // Elsewhere errors keep OpenAI's shape.
  assert.equal(
    (await app.inject({ method: "POST", url: "/v1/nothing", payload: {} })).json().error.code,
    "not_found",
  );
});
