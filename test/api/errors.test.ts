import assert from "node:assert/strict";
import { test } from "node:test";
import { endpointOf, paramOf, toErrorResponse } from "../../src/api/errors.js";
import { buildServer } from "../../src/api/server.js";
import { ContextOverflowError, InvalidRequestError, ModelNotFoundError } from "../../src/provider/errors.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { FakeEngine } from "../helpers/fake-engine.js";

const LIMITS = { bodyLimit: 1024 };

test("our field ids map to OpenAI's param, the prompt by endpoint", () => {
  const cases: [Parameters<typeof paramOf>[0], string, string][] = [
    ["prompt", "messages", "prompt"],
    ["maxTokens", "max_tokens", "max_tokens"],
    ["model", "model", "model"],
    ["tools", "tools", "tools"],
    ["format.schema", "response_format.json_schema.schema", "response_format.json_schema.schema"],
    [
      "format.schema.properties.a.pattern",
      "response_format.json_schema.schema.properties.a.pattern",
      "response_format.json_schema.schema.properties.a.pattern",
    ],
    ["tools.3.parameters", "tools[3].function.parameters", "tools[3].function.parameters"],
    [
      "tools.12.parameters.items.$ref",
      "tools[12].function.parameters.items.$ref",
      "tools[12].function.parameters.items.$ref",
    ],
  ];
  for (const [field, chat, completions] of cases) {
    assert.equal(paramOf(field, "chat"), chat, field);
    assert.equal(paramOf(field, "completions"), completions, field);
  }
  assert.equal(endpointOf("/v1/completions"), "completions");
  assert.equal(endpointOf("/completions"), "completions");
  assert.equal(endpointOf("/v1/chat/completions"), "chat");
  assert.equal(endpointOf(undefined), "chat");
});

test("a core error names our fields; the response names OpenAI's, in param and message", () => {
  const error = new ContextOverflowError(
    (name) => `Lower ${name("maxTokens")}; see ${name("prompt")}.`,
    "maxTokens",
  );
  assert.equal(error.message, "Lower maxTokens; see prompt.");
  assert.equal(error.param, null);
  const chat = toErrorResponse(error, LIMITS, "chat").body.error;
  assert.deepEqual([chat.param, chat.message], ["max_tokens", "Lower max_tokens; see messages."]);
  const text = toErrorResponse(error, LIMITS, "completions").body.error;
  assert.deepEqual([text.param, text.message], ["max_tokens", "Lower max_tokens; see prompt."]);

  const schema = new InvalidRequestError(
    (name) => `at '${name("tools.0.parameters.minLength")}'`,
    { field: "tools.0.parameters.minLength" },
    "unsupported_schema",
  );
  assert.deepEqual(toErrorResponse(schema, LIMITS).body.error, {
    message: "at 'tools[0].function.parameters.minLength'",
    type: "invalid_request_error",
    param: "tools[0].function.parameters.minLength",
    code: "unsupported_schema",
  });
  // api/'s own errors already carry the wire's name.
  assert.equal(
    toErrorResponse(new InvalidRequestError("x", "top_logprobs"), LIMITS).body.error.param,
    "top_logprobs",
  );
});

test("a model that is not served: the core names the model, the edge says where the list is", () => {
  const error = new ModelNotFoundError("gpt-4o");
  assert.doesNotMatch(error.message, /\/v1\/models/);
  assert.equal(error.field, "model");
  const body = toErrorResponse(error, LIMITS).body.error;
  assert.match(body.message, /^The model 'gpt-4o' does not exist .* GET \/v1\/models lists the models\.$/);
  assert.equal(body.param, "model");
});

test("through the routes, the prompt is `messages` on chat and `prompt` on /v1/completions", async () => {
  const scheduler = new Scheduler({ maxQueue: 4 });
  scheduler.attach(new FakeEngine(1, 64));
  const app = await buildServer({ provider: scheduler, bodyLimit: 1 << 20 });
  try {
    const post = (url: string, payload: object) => app.inject({ method: "POST", url, payload });
    const errorOf = (res: { json(): unknown }) =>
      (res.json() as { error: { param: string; message: string; code: string } }).error;

    let error = errorOf(
      await post("/v1/chat/completions", { messages: [{ role: "user", content: "x".repeat(99) }] }),
    );
    assert.deepEqual([error.code, error.param], ["context_length_exceeded", "messages"]);
    error = errorOf(await post("/v1/completions", { prompt: "x".repeat(99) }));
    assert.deepEqual([error.code, error.param], ["context_length_exceeded", "prompt"]);
    error = errorOf(await post("/v1/completions", { prompt: "x", max_tokens: 80 }));
    assert.deepEqual([error.code, error.param], ["context_length_exceeded", "max_tokens"]);
    assert.match(
      error.message,
      /80 in the completion\)\. Please reduce the length of the prompt or max_tokens\.$/,
    );
    assert.doesNotMatch(error.message, /maxTokens/);

    const deep = { type: "array", items: {} as object };
    let leaf = deep;
    for (let i = 0; i < 100; i++) leaf = (leaf as { items: object }).items = { type: "array", items: {} };
    error = errorOf(
      await post("/v1/chat/completions", {
        messages: [{ role: "user", content: "hi" }],
        tools: [{ type: "function", function: { name: "f", parameters: deep } }],
      }),
    );
    assert.equal(error.code, "unsupported_schema");
    assert.match(error.param, /^tools\[0\]\.function\.parameters\.items\.items/);
    assert.match(error.message, /at 'tools\[0\]\.function\.parameters\.items/);
  } finally {
    await app.close();
  }
});
