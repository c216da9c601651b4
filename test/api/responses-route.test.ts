import assert from "node:assert/strict";
import { test } from "node:test";
import { apiKey } from "../../src/api/security/keys.js";
import { buildServer } from "../../src/api/server.js";
import { ContextOverflowError, ShuttingDownError } from "../../src/provider/errors.js";
import type { GenerateRequest, ModelProvider, StreamPart } from "../../src/provider/types.js";

// /v1/responses in process, on a scripted provider: what the route adds around the translation.

const usage = { promptTokens: 3, completionTokens: 2, cachedTokens: 0 };

class ScriptedProvider implements ModelProvider {
  readonly state = "ready" as const;
  readonly requests: GenerateRequest[] = [];
  constructor(private readonly script: (request: GenerateRequest) => AsyncIterable<StreamPart>) {}
  stream(request: GenerateRequest) {
    this.requests.push(request);
    return this.script(request);
  }
  listModels() {
    return [{ id: "m", created: 0, ownedBy: "test", contextSize: 64 }];
  }
  resolveModel() {
    return "m";
  }
}

async function* answer(text: string): AsyncGenerator<StreamPart> {
  yield { type: "meta", meta: { route: "local", routeReason: "test" } };
  yield { type: "text-delta", text };
  yield { type: "finish", finishReason: "stop", usage };
}

const post = (payload: unknown, headers: Record<string, string> = {}) => ({
  method: "POST" as const,
  url: "/v1/responses",
  payload: payload as object,
  headers,
});

test("previous_response_id carries the conversation, not the instructions; GET and DELETE find it", async () => {
  const provider = new ScriptedProvider(() => answer("hello"));
  const app = await buildServer({ provider });
  const first = (await app.inject(post({ input: "hi", instructions: "Be brief." }))).json();
  assert.equal(first.output_text, "hello");
  assert.equal(first.edgellm.route, "local");
  const second = await app.inject(
    post({ input: "again", previous_response_id: first.id, instructions: "New." }),
  );
  assert.equal(second.statusCode, 200);
  assert.deepEqual(provider.requests[1].prompt, {
    kind: "chat",
    messages: [
      { role: "system", content: "New." },
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello" },
      { role: "user", content: "again" },
    ],
  });
  // An output item can stand for itself in a later input.
  const msgId = first.output[0].id;
  await app.inject(
    post({
      input: [
        { type: "item_reference", id: msgId },
        { role: "user", content: "x" },
      ],
    }),
  );
  assert.deepEqual(provider.requests[2].prompt.kind === "chat" && provider.requests[2].prompt.messages[0], {
    role: "assistant",
    content: "hello",
  });

  const got = await app.inject({ method: "GET", url: `/v1/responses/${first.id}` });
  assert.equal(got.json().id, first.id);
  assert.equal((await app.inject({ method: "DELETE", url: `/responses/${first.id}` })).json().deleted, true);
  const gone = await app.inject({ method: "GET", url: `/v1/responses/${first.id}` });
  assert.equal(gone.statusCode, 404);
  assert.equal(gone.json().error.code, "response_not_found");
  const after = await app.inject(post({ input: "x", previous_response_id: first.id }));
  assert.equal(after.statusCode, 400);
  assert.deepEqual(after.json().error.param, "previous_response_id");
  assert.equal(after.json().error.code, "previous_response_not_found");
});

test("store: false keeps nothing", async () => {
  const app = await buildServer({ provider: new ScriptedProvider(() => answer("a")) });
  const made = (await app.inject(post({ input: "hi", store: false }))).json();
  assert.equal((await app.inject({ method: "GET", url: `/v1/responses/${made.id}` })).statusCode, 404);
  const next = await app.inject(post({ input: "x", previous_response_id: made.id }));
  assert.equal(next.json().error.code, "previous_response_not_found");
});

test("an error before the first part keeps its status and names the Responses parameter", async () => {
  const app = await buildServer({
    provider: new ScriptedProvider(async function* () {
      throw new ContextOverflowError((name) => `${name("prompt")} plus ${name("maxTokens")} is too long.`);
    }),
  });
  const res = await app.inject(post({ input: "hi", max_output_tokens: 10 }));
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json().error, {
    message: "input plus max_output_tokens is too long.",
    type: "invalid_request_error",
    param: "input",
    code: "context_length_exceeded",
  });
});

test("an error mid-stream is an error event then response.failed, and nothing is stored", async () => {
  const app = await buildServer({
    provider: new ScriptedProvider(async function* () {
      yield { type: "text-delta", text: "partial" };
      throw new ShuttingDownError();
    }),
  });
  const res = await app.inject(post({ input: "hi", stream: true }));
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^text\/event-stream/);
  const blocks = res.body.split("\n\n").filter(Boolean);
  const events = blocks.map((block) => {
    const [name, data] = block.split("\n");
    const event = JSON.parse(data.slice("data: ".length));
    assert.equal(name, `event: ${event.type}`);
    return event;
  });
  assert.deepEqual(
    events.slice(-2).map((e) => e.type),
    ["error", "response.failed"],
  );
  assert.equal(events.at(-2).code, "shutting_down");
  assert.equal(events.at(-1).response.status, "failed");
  assert.ok(!res.body.includes("[DONE]"), "the Responses API sends no [DONE]");
  const id = events[0].response.id;
  assert.equal((await app.inject({ method: "GET", url: `/v1/responses/${id}` })).statusCode, 404);
});

test("API keys guard /v1/responses and GET /v1/responses/{id} as every other API route", async () => {
  const key = "sk-edgellm-test-0123456789abcdef";
  const app = await buildServer({
    provider: new ScriptedProvider(() => answer("a")),
    security: { keys: [apiKey(key)] },
  });
  const refused = await app.inject(post({ input: "hi" }));
  assert.equal(refused.statusCode, 401);
  assert.equal(refused.json().error.code, "invalid_api_key");
  const made = await app.inject(post({ input: "hi" }, { authorization: `Bearer ${key}` }));
  assert.equal(made.statusCode, 200);
  const get = await app.inject({ method: "GET", url: `/v1/responses/${made.json().id}` });
  assert.equal(get.statusCode, 401);
});

test("with keys, a stored response is found only with the key that made it", async () => {
  const [alice, bob] = ["sk-edgellm-alice-0123456789abcdef", "sk-edgellm-bob-0123456789abcdef0"];
  const app = await buildServer({
    provider: new ScriptedProvider(() => answer("a")),
    security: { keys: [apiKey(alice, { label: "alice" }), apiKey(bob, { label: "bob" })] },
  });
  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  const made = (await app.inject(post({ input: "secret" }, as(alice)))).json();
  const get = (key: string) =>
    app.inject({ method: "GET", url: `/v1/responses/${made.id}`, headers: as(key) });
  assert.equal((await get(alice)).statusCode, 200);
  assert.equal((await get(bob)).statusCode, 404);
  const building = await app.inject(post({ input: "x", previous_response_id: made.id }, as(bob)));
  assert.equal(building.json().error.code, "previous_response_not_found");
  const referring = await app.inject(
    post({ input: [{ type: "item_reference", id: made.output[0].id }] }, as(bob)),
  );
  assert.equal(referring.json().error.code, "previous_response_not_found");
  const deleting = await app.inject({ method: "DELETE", url: `/v1/responses/${made.id}`, headers: as(bob) });
  assert.equal(deleting.statusCode, 404);
  assert.equal((await get(alice)).statusCode, 200);
});

test("a streamed response is stored before its last event goes out", async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let calls = 0;
  const app = await buildServer({
    provider: new ScriptedProvider(async function* () {
      yield { type: "text-delta", text: "a" };
      yield { type: "finish", finishReason: "stop", usage };
      // The first stream has not ended yet when the client already holds its response.completed.
      if (++calls === 1) await held;
    }),
  });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  try {
    const res = await fetch(`${url}/v1/responses`, {
      method: "POST",
      body: JSON.stringify({ input: "hi", stream: true }),
    });
    const reader = (res.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("event: response.completed")) {
      const { value, done } = await reader.read();
      assert.ok(!done, "the stream ended before response.completed");
      text += value;
    }
    const id = /"id":"(resp_[0-9a-f]+)"/.exec(text)?.[1];
    const next = await fetch(`${url}/v1/responses`, {
      method: "POST",
      body: JSON.stringify({ input: "more", previous_response_id: id }),
    });
    assert.equal(next.status, 200, await next.text());
    release();
    await reader.cancel();
  } finally {
    release();
    await app.close();
  }
});

test("built-in tools offered are left out of what the model sees and named in x-edgellm-tools-ignored", async () => {
  const provider = new ScriptedProvider(() => answer("a"));
  const app = await buildServer({ provider });
  const tools = [
    { type: "web_search", external_web_access: false },
    {
      type: "namespace",
      name: "crm",
      description: "Customer records.",
      tools: [{ type: "function", name: "find", parameters: { type: "object" } }],
    },
    { type: "image_generation" },
  ];
  for (const stream of [false, true]) {
    const res = await app.inject(post({ input: "hi", tools, stream }));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers["x-edgellm-tools-ignored"], "web_search, image_generation");
    const request = provider.requests.at(-1);
    assert.ok(request?.prompt.kind === "chat");
    assert.deepEqual(
      request.prompt.tools?.map((t) => t.name),
      ["crm__find"],
    );
  }
  // Nothing left out, no header.
  const plain = await app.inject(post({ input: "hi", tools: [{ type: "function", name: "f" }] }));
  assert.equal(plain.headers["x-edgellm-tools-ignored"], undefined);
  // Forced, a built-in tool is a 400 that names it.
  const forced = await app.inject(post({ input: "hi", tools, tool_choice: { type: "image_generation" } }));
  assert.equal(forced.statusCode, 400);
  assert.equal(forced.json().error.code, "unsupported_tool");
  assert.match(forced.json().error.message, /'image_generation'/);
});

test("a namespaced function's call goes out under its namespace, and comes back in by it", async () => {
  const provider = new ScriptedProvider(async function* () {
    yield { type: "tool-call-delta", index: 0, id: "call_1", name: "crm__find", argumentsDelta: "{}" };
    yield { type: "finish", finishReason: "tool_calls", usage };
  });
  const app = await buildServer({ provider });
  const crm = {
    type: "namespace",
    name: "crm",
    description: "Customer records.",
    tools: [{ type: "function", name: "find", parameters: { type: "object" } }],
  };
  const first = (await app.inject(post({ input: "find Ann", tools: [crm] }))).json();
  const call = first.output.find((item: { type: string }) => item.type === "function_call");
  assert.deepEqual(
    { namespace: call.namespace, name: call.name, call_id: call.call_id },
    { namespace: "crm", name: "find", call_id: "call_1" },
  );
  // Built on by previous_response_id: the stored turn holds the name the model called.
  await app.inject(
    post({
      input: [{ type: "function_call_output", call_id: "call_1", output: "found" }],
      previous_response_id: first.id,
      tools: [crm],
    }),
  );
  const messages =
    provider.requests.at(-1)?.prompt.kind === "chat" ? provider.requests.at(-1)?.prompt : undefined;
  assert.ok(messages?.kind === "chat");
  assert.deepEqual(messages.messages.at(-2)?.toolCalls?.[0].name, "crm__find");
});
