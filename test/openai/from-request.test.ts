import assert from "node:assert/strict";
import { test } from "node:test";
import { parseChatRequest, parseCompletionRequest } from "../../src/api/parse-request.js";
import {
  fromChatRequest as fromChatBody,
  fromCompletionRequest as fromCompletionBody,
} from "../../src/openai/from-request.js";
import { chatRequestSchema, completionRequestSchema } from "../../src/openai/request-schemas.js";
import { InvalidRequestError } from "../../src/provider/errors.js";

// The codec reads bodies that already passed their schema; these helpers do that part with zod alone.
const fromChatRequest = (body: unknown) => fromChatBody(chatRequestSchema.parse(body));
const fromCompletionRequest = (body: unknown) => fromCompletionBody(completionRequestSchema.parse(body));

const user = (content: unknown) => ({ messages: [{ role: "user", content }] });

function refusal(fn: () => unknown, param: string | null, code?: string) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidRequestError, String(error));
    assert.equal(error.status, 400);
    assert.equal(error.param, param);
    if (code) assert.equal(error.code, code);
    return true;
  });
}

test("fromChatRequest maps OpenAI fields to sampling parameters", () => {
  const parsed = fromChatRequest({
    model: "local",
    messages: [
      { role: "developer", content: "be brief" },
      {
        role: "user",
        content: [
          { type: "text", text: "hi" },
          { type: "text", text: "there" },
        ],
      },
      { role: "assistant", content: null },
    ],
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: 10,
    max_completion_tokens: 20,
    temperature: 0,
    top_p: 0.5,
    top_k: 7,
    min_p: 0.1,
    seed: 42,
    stop: "END",
    presence_penalty: 0.5,
    frequency_penalty: -0.5,
    repetition_penalty: 1.1,
    n: 1,
    ignore_eos: true,
    some_unknown_field: "ignored",
  });
  assert.equal(parsed.model, "local");
  assert.deepEqual(parsed.prompt, {
    kind: "chat",
    messages: [
      { role: "system", content: "be brief" },
      { role: "user", content: "hi\nthere" },
      { role: "assistant", content: "" },
    ],
  });
  assert.equal(parsed.stream, true);
  assert.equal(parsed.includeUsage, true);
  assert.deepEqual(parsed.sampling, {
    temperature: 0,
    topP: 0.5,
    topK: 7,
    minP: 0.1,
    seed: 42,
    repetitionPenalty: 1.1,
    presencePenalty: 0.5,
    frequencyPenalty: -0.5,
    maxTokens: 20,
    stop: ["END"],
    ignoreEos: true,
  });
});

test("fromChatRequest uses defaults for omitted and null fields", () => {
  const parsed = fromChatRequest({ ...user("hi"), temperature: null, max_tokens: null, stop: ["a", ""] });
  assert.equal(parsed.stream, false);
  assert.equal(parsed.sampling.temperature, 0.8);
  assert.equal(parsed.sampling.maxTokens, undefined);
  assert.deepEqual(parsed.sampling.stop, ["a"]);
  assert.equal(parsed.model, undefined);
});

test("fromChatRequest refuses what this server cannot do, naming it", () => {
  refusal(() => fromChatRequest({ ...user("x"), n: 2 }), "n", "unsupported_parameter");
  refusal(() => fromChatRequest({ messages: [{ role: "user" }] }), "messages[0].content");
  refusal(
    () => fromChatRequest(user([{ type: "image_url", image_url: { url: "x" } }])),
    "messages[0].content[0]",
  );
  refusal(() => fromChatRequest({ ...user("x"), top_logprobs: 2 }), "top_logprobs", "unsupported_parameter");
  refusal(() => fromChatRequest({ ...user("x"), tool_choice: "required" }), "tool_choice");
  refusal(
    () =>
      fromChatRequest({
        ...user("x"),
        tools: [{ type: "function", function: { name: "f" } }],
        tool_choice: { type: "function", function: { name: "g" } },
      }),
    "tool_choice.function.name",
  );
  refusal(
    () => fromChatRequest({ ...user("x"), stop: ["}"], response_format: { type: "json_object" } }),
    "stop",
    "unsupported_parameter",
  );
});

test("the edge refuses what the request schema does not allow, naming it", () => {
  refusal(() => parseChatRequest({}), "messages", "missing_required_parameter");
  refusal(() => parseChatRequest({ messages: [] }), "messages");
  refusal(() => parseChatRequest({ ...user("x"), temperature: 3 }), "temperature");
  refusal(() => parseChatRequest({ ...user("x"), temperature: "hot" }), "temperature");
  refusal(() => parseChatRequest({ ...user("x"), max_tokens: 0 }), "max_tokens");
  refusal(() => parseChatRequest({ ...user("x"), max_tokens: 1.5 }), "max_tokens");
  refusal(() => parseChatRequest({ ...user("x"), top_p: 0 }), "top_p");
  refusal(() => parseChatRequest({ ...user("x"), stop: 5 }), "stop");
  refusal(() => parseChatRequest({ messages: [{ role: "wizard", content: "x" }] }), "messages[0].role");
  refusal(
    () => parseChatRequest({ ...user("x"), response_format: { type: "json_schema", json_schema: {} } }),
    "response_format.json_schema.name",
  );
  refusal(() => parseChatRequest({ ...user("x"), logprobs: true, top_logprobs: 21 }), "top_logprobs");
  refusal(() => parseChatRequest([1, 2]), null, "invalid_json");
  refusal(() => parseChatRequest(undefined), null, "invalid_json");
});

test("fromChatRequest carries response_format, tools, tool history and logprobs inward", () => {
  const parsed = fromChatRequest({
    messages: [
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
      },
      { role: "tool", tool_call_id: "call_1", content: "21" },
    ],
    tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
    tool_choice: { type: "function", function: { name: "f" } },
    parallel_tool_calls: false,
    response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object" } } },
    logprobs: true,
    top_logprobs: 3,
  });
  assert.deepEqual(parsed.prompt, {
    kind: "chat",
    messages: [
      { role: "user", content: "weather?" },
      { role: "assistant", content: "", toolCalls: [{ id: "call_1", name: "f", arguments: '{"a":1}' }] },
      { role: "tool", content: "21", toolCallId: "call_1" },
    ],
    tools: [{ name: "f", description: undefined, parameters: { type: "object" } }],
  });
  assert.deepEqual(parsed.controls, {
    format: { kind: "json_schema", name: "x", schema: { type: "object" } },
    toolChoice: { name: "f" },
    parallelToolCalls: false,
    logprobs: { top: 3 },
  });
});

test("fromCompletionRequest accepts the issue's exact request", () => {
  const parsed = fromCompletionRequest({
    prompt: "请用JSON格式返回北京今天的天气信息,包含温度、湿度和风速。",
    max_tokens: 512,
    temperature: 0.7,
  });
  assert.deepEqual(parsed.prompt, {
    kind: "text",
    text: "请用JSON格式返回北京今天的天气信息,包含温度、湿度和风速。",
  });
  assert.equal(parsed.sampling.maxTokens, 512);
  assert.equal(parsed.sampling.temperature, 0.7);
  assert.equal(parsed.model, undefined);
});

test("fromCompletionRequest refuses what it cannot honour", () => {
  refusal(() => parseCompletionRequest({}), "prompt", "missing_required_parameter");
  refusal(() => fromCompletionRequest({ prompt: ["a", "b"] }), "prompt", "unsupported_parameter");
  refusal(() => fromCompletionRequest({ prompt: "a", echo: true }), "echo");
  refusal(() => fromCompletionRequest({ prompt: "a", logprobs: 2 }), "logprobs");
  assert.deepEqual(fromCompletionRequest({ prompt: ["only"] }).prompt, { kind: "text", text: "only" });
});

test("logit_bias becomes [id, bias] pairs on both endpoints; an empty one is none", () => {
  const chat = fromChatRequest({ ...user("hi"), logit_bias: { "15": -100, "2000": 2.5 } });
  assert.deepEqual(chat.sampling.logitBias, [
    [15, -100],
    [2000, 2.5],
  ]);
  const text = fromCompletionRequest({ prompt: "Once", logit_bias: { "7": 1 } });
  assert.deepEqual(text.sampling.logitBias, [[7, 1]]);
  assert.equal(fromChatRequest({ ...user("hi"), logit_bias: {} }).sampling.logitBias, undefined);
  for (const bad of [{ "01": 1 }, { "1.5": 1 }, { x: 1 }, { "1": -101 }, { "1": "5" }])
    assert.throws(() => parseChatRequest({ ...user("hi"), logit_bias: bad }), InvalidRequestError);
});

test("the legacy functions and function_call are refused by name, never silently ignored", () => {
  const fn = { name: "get_weather", parameters: { type: "object" } };
  refusal(() => fromChatRequest({ ...user("hi"), functions: [fn] }), "functions", "unsupported_parameter");
  refusal(
    () => fromChatRequest({ ...user("hi"), function_call: "auto" }),
    "function_call",
    "unsupported_parameter",
  );
  refusal(
    () => fromChatRequest({ ...user("hi"), functions: [fn], function_call: { name: "get_weather" } }),
    "functions",
  );
  assert.equal(fromChatRequest({ ...user("hi"), functions: null }).prompt.kind, "chat");
});

test("reasoning_effort and verbosity are hints that change nothing; values OpenAI does not have are refused", () => {
  const body = { model: "local", ...user("hi") };
  const plain = fromChatRequest(body);
  for (const effort of ["none", "minimal", "low", "medium", "high", "xhigh", "max"])
    assert.deepEqual(fromChatRequest({ ...body, reasoning_effort: effort, verbosity: "low" }), plain);
  const refused = chatRequestSchema.safeParse({ ...body, reasoning_effort: "extreme" });
  assert.ok(!refused.success);
  assert.deepEqual(refused.error.issues[0].path, ["reasoning_effort"]);
});
