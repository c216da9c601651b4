import assert from "node:assert/strict";
import { test } from "node:test";
import { parseChatRequest, parseCompletionRequest } from "../../src/api/parse-request.js";
import {
  jsonFitsIn,
  MAX_CONTENT_BYTES,
  MAX_ID_LENGTH,
  MAX_MESSAGES,
  MAX_NAME_LENGTH,
  MAX_STOP_LENGTH,
  MAX_STOP_STRINGS,
  MAX_TOOLS,
  MAX_TOOLS_JSON_BYTES,
} from "../../src/openai/limits.js";
import { clip, InvalidRequestError } from "../../src/provider/errors.js";

// Every schema problem gets the code for its kind: absent, wrong JSON type, or right type but a bad value.

type Code = "missing_required_parameter" | "invalid_type" | "invalid_value";

const user = { role: "user", content: "hi" };
const chat = (extra: Record<string, unknown>) => ({ messages: [user], ...extra });
const withMessage = (message: Record<string, unknown>) => ({ messages: [message] });
const tool = (fn: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  chat({ tools: [{ type: "function", function: { name: "f", ...fn } }], ...extra });
const jsonSchema = (js: Record<string, unknown>) =>
  chat({ response_format: { type: "json_schema", json_schema: js } });

/** [what, body, param, code] for /v1/chat/completions. */
const CHAT_CASES: [string, unknown, string, Code][] = [
  ["no messages", {}, "messages", "missing_required_parameter"],
  ["messages a string", { messages: "hello" }, "messages", "invalid_type"],
  ["messages null", { messages: null }, "messages", "invalid_type"],
  ["messages empty", { messages: [] }, "messages", "invalid_value"],
  ["a message a string", { messages: ["hi"] }, "messages[0]", "invalid_type"],
  ["no role", withMessage({ content: "x" }), "messages[0].role", "missing_required_parameter"],
  ["unknown role", withMessage({ role: "wizard", content: "x" }), "messages[0].role", "invalid_value"],
  ["numeric role", withMessage({ role: 5, content: "x" }), "messages[0].role", "invalid_type"],
  ["no content", withMessage({ role: "user" }), "messages[0].content", "missing_required_parameter"],
  ["null user content", withMessage({ role: "user", content: null }), "messages[0].content", "invalid_type"],
  ["numeric content", withMessage({ role: "user", content: 5 }), "messages[0].content", "invalid_type"],
  [
    "object content",
    withMessage({ role: "user", content: { text: "x" } }),
    "messages[0].content",
    "invalid_type",
  ],
  ["a part a number", withMessage({ role: "user", content: [5] }), "messages[0].content[0]", "invalid_type"],
  [
    "a part without type",
    withMessage({ role: "user", content: [{ text: "x" }] }),
    "messages[0].content[0].type",
    "missing_required_parameter",
  ],
  [
    "a part's text a number",
    withMessage({ role: "user", content: [{ type: "text", text: 5 }] }),
    "messages[0].content[0].text",
    "invalid_type",
  ],
  [
    "an image part",
    withMessage({ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }),
    "messages[0].content[0]",
    "invalid_value",
  ],
  [
    "a text part without text",
    withMessage({ role: "user", content: [{ type: "text" }] }),
    "messages[0].content[0].text",
    "missing_required_parameter",
  ],
  ["numeric name", withMessage({ role: "user", content: "x", name: 5 }), "messages[0].name", "invalid_type"],
  [
    "tool_calls an object",
    withMessage({ role: "assistant", tool_calls: {} }),
    "messages[0].tool_calls",
    "invalid_type",
  ],
  [
    "a tool call without id",
    withMessage({ role: "assistant", tool_calls: [{ function: { name: "f", arguments: "{}" } }] }),
    "messages[0].tool_calls[0].id",
    "missing_required_parameter",
  ],
  [
    "a tool call's arguments an object",
    withMessage({ role: "assistant", tool_calls: [{ id: "c", function: { name: "f", arguments: {} } }] }),
    "messages[0].tool_calls[0].function.arguments",
    "invalid_type",
  ],
  [
    "a tool call of another type",
    withMessage({
      role: "assistant",
      tool_calls: [{ id: "c", type: "x", function: { name: "f", arguments: "" } }],
    }),
    "messages[0].tool_calls[0].type",
    "invalid_value",
  ],
  [
    "numeric tool_call_id",
    withMessage({ role: "tool", content: "x", tool_call_id: 1 }),
    "messages[0].tool_call_id",
    "invalid_type",
  ],
  ["temperature too high", chat({ temperature: 2.5 }), "temperature", "invalid_value"],
  ["temperature negative", chat({ temperature: -1 }), "temperature", "invalid_value"],
  ["temperature a string", chat({ temperature: "hot" }), "temperature", "invalid_type"],
  ["top_p zero", chat({ top_p: 0 }), "top_p", "invalid_value"],
  ["top_p a boolean", chat({ top_p: true }), "top_p", "invalid_type"],
  ["top_k negative", chat({ top_k: -1 }), "top_k", "invalid_value"],
  ["top_k fractional", chat({ top_k: 1.5 }), "top_k", "invalid_type"],
  ["min_p above 1", chat({ min_p: 2 }), "min_p", "invalid_value"],
  ["seed a string", chat({ seed: "42" }), "seed", "invalid_type"],
  ["presence_penalty too low", chat({ presence_penalty: -3 }), "presence_penalty", "invalid_value"],
  ["frequency_penalty a list", chat({ frequency_penalty: [1] }), "frequency_penalty", "invalid_type"],
  ["repetition_penalty zero", chat({ repetition_penalty: 0 }), "repetition_penalty", "invalid_value"],
  ["max_tokens zero", chat({ max_tokens: 0 }), "max_tokens", "invalid_value"],
  ["max_tokens fractional", chat({ max_tokens: 1.5 }), "max_tokens", "invalid_type"],
  ["max_tokens a string", chat({ max_tokens: "10" }), "max_tokens", "invalid_type"],
  [
    "max_completion_tokens negative",
    chat({ max_completion_tokens: -5 }),
    "max_completion_tokens",
    "invalid_value",
  ],
  ["n zero", chat({ n: 0 }), "n", "invalid_value"],
  ["model a number", chat({ model: 4 }), "model", "invalid_type"],
  ["stream a string", chat({ stream: "yes" }), "stream", "invalid_type"],
  ["stream_options a number", chat({ stream_options: 5 }), "stream_options", "invalid_type"],
  [
    "include_usage a string",
    chat({ stream_options: { include_usage: "yes" } }),
    "stream_options.include_usage",
    "invalid_type",
  ],
  ["stop a number", chat({ stop: 5 }), "stop", "invalid_type"],
  ["a stop string a number", chat({ stop: ["a", 5] }), "stop[1]", "invalid_type"],
  ["too many stop strings", chat({ stop: Array(MAX_STOP_STRINGS + 1).fill("a") }), "stop", "invalid_value"],
  ["a stop string too long", chat({ stop: "x".repeat(MAX_STOP_LENGTH + 1) }), "stop", "invalid_value"],
  [
    "one of the stop strings too long",
    chat({ stop: ["a", "x".repeat(MAX_STOP_LENGTH + 1)] }),
    "stop[1]",
    "invalid_value",
  ],
  ["response_format a string", chat({ response_format: "json" }), "response_format", "invalid_type"],
  [
    "response_format without type",
    chat({ response_format: {} }),
    "response_format.type",
    "missing_required_parameter",
  ],
  [
    "response_format of an unknown type",
    chat({ response_format: { type: "xml" } }),
    "response_format.type",
    "invalid_value",
  ],
  [
    "response_format type a number",
    chat({ response_format: { type: 1 } }),
    "response_format.type",
    "invalid_type",
  ],
  [
    "json_schema missing",
    chat({ response_format: { type: "json_schema" } }),
    "response_format.json_schema",
    "missing_required_parameter",
  ],
  [
    "json_schema name missing",
    jsonSchema({}),
    "response_format.json_schema.name",
    "missing_required_parameter",
  ],
  [
    "json_schema name with spaces",
    jsonSchema({ name: "a b" }),
    "response_format.json_schema.name",
    "invalid_value",
  ],
  [
    "json_schema schema a string",
    jsonSchema({ name: "a", schema: "{}" }),
    "response_format.json_schema.schema",
    "invalid_type",
  ],
  [
    "json_schema strict a string",
    jsonSchema({ name: "a", strict: "yes" }),
    "response_format.json_schema.strict",
    "invalid_type",
  ],
  ["tools an object", chat({ tools: {} }), "tools", "invalid_type"],
  [
    "a tool of another type",
    chat({ tools: [{ type: "retrieval", function: { name: "f" } }] }),
    "tools[0].type",
    "invalid_value",
  ],
  [
    "a tool without function",
    chat({ tools: [{ type: "function" }] }),
    "tools[0].function",
    "missing_required_parameter",
  ],
  ["a tool without name", tool({ name: undefined }), "tools[0].function.name", "missing_required_parameter"],
  ["a tool name with spaces", tool({ name: "get weather" }), "tools[0].function.name", "invalid_value"],
  ["a tool name a number", tool({ name: 7 }), "tools[0].function.name", "invalid_type"],
  ["tool parameters a string", tool({ parameters: "{}" }), "tools[0].function.parameters", "invalid_type"],
  ["tool_choice unknown", tool({}, { tool_choice: "maybe" }), "tool_choice", "invalid_value"],
  ["tool_choice a number", tool({}, { tool_choice: 5 }), "tool_choice", "invalid_type"],
  [
    "tool_choice without function name",
    tool({}, { tool_choice: { type: "function", function: {} } }),
    "tool_choice.function.name",
    "missing_required_parameter",
  ],
  [
    "parallel_tool_calls a string",
    tool({}, { parallel_tool_calls: "no" }),
    "parallel_tool_calls",
    "invalid_type",
  ],
  ["logprobs a number", chat({ logprobs: 1 }), "logprobs", "invalid_type"],
  ["top_logprobs too many", chat({ logprobs: true, top_logprobs: 21 }), "top_logprobs", "invalid_value"],
  ["ignore_eos a string", chat({ ignore_eos: "true" }), "ignore_eos", "invalid_type"],
];

/** [what, body, param, code] for /v1/completions. */
const COMPLETION_CASES: [string, unknown, string, Code][] = [
  ["no prompt", {}, "prompt", "missing_required_parameter"],
  ["an empty prompt", { prompt: "" }, "prompt", "invalid_value"],
  ["an empty prompt in a list", { prompt: [""] }, "prompt[0]", "invalid_value"],
  ["an empty list", { prompt: [] }, "prompt", "invalid_value"],
  ["a numeric prompt", { prompt: 5 }, "prompt", "invalid_type"],
  ["a null prompt", { prompt: null }, "prompt", "invalid_type"],
  ["a prompt over the limit", { prompt: "é".repeat(MAX_CONTENT_BYTES / 2 + 1) }, "prompt", "invalid_value"],
  ["temperature too high", { prompt: "a", temperature: 2.5 }, "temperature", "invalid_value"],
  ["stream a string", { prompt: "a", stream: "yes" }, "stream", "invalid_type"],
  ["echo a string", { prompt: "a", echo: "yes" }, "echo", "invalid_type"],
  [
    "response_format of an unknown type",
    { prompt: "a", response_format: { type: "x" } },
    "response_format.type",
    "invalid_value",
  ],
];

function refusal(fn: () => unknown): InvalidRequestError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof InvalidRequestError, String(error));
    return error;
  }
  assert.fail("expected a refusal");
}

test("each schema problem has the code of its kind and names its parameter", () => {
  const run = (cases: [string, unknown, string, Code][], parse: (body: unknown) => unknown) => {
    for (const [what, body, param, code] of cases) {
      const error = refusal(() => parse(body));
      assert.deepEqual({ what, param: error.param, code: error.code }, { what, param, code });
      assert.equal(error.status, 400);
      assert.ok(error.message.includes(`'${param}`), `${what}: ${error.message}`);
      const lead = { missing_required_parameter: "Missing", invalid_type: "Invalid type", invalid_value: "" }[
        code
      ];
      assert.ok(error.message.startsWith(lead), `${what}: ${error.message}`);
    }
  };
  run(CHAT_CASES, parseChatRequest);
  run(COMPLETION_CASES, parseCompletionRequest);
});

test("messages say what was expected and what came", () => {
  assert.equal(
    refusal(() => parseChatRequest(chat({ temperature: 2.5 }))).message,
    "Invalid value for 'temperature': must be at most 2 (got 2.5).",
  );
  assert.equal(
    refusal(() => parseChatRequest({ messages: "hello" })).message,
    "Invalid type for 'messages': expected array, got string.",
  );
  assert.equal(
    refusal(() => parseChatRequest(chat({ stop: 5 }))).message,
    "Invalid type for 'stop': expected string or array, got number.",
  );
  assert.equal(
    refusal(() => parseChatRequest(withMessage({ role: "bot", content: "x" }))).message,
    `Invalid value for 'messages[0].role': must be one of "system", "developer", "user", "assistant", "tool" (got "bot").`,
  );
  assert.equal(
    refusal(() => parseChatRequest(chat({ max_tokens: 1.5 }))).message,
    "Invalid type for 'max_tokens': expected an integer, got 1.5.",
  );
  assert.equal(
    refusal(() => parseCompletionRequest({ prompt: "" })).message,
    "Invalid value for 'prompt': must not be empty.",
  );
});

test("size limits are refused by name before any work", () => {
  const big = "x".repeat(MAX_CONTENT_BYTES + 1);
  // Multi-byte text is counted in UTF-8 bytes, not characters.
  const bigChinese = "北".repeat(Math.floor(MAX_CONTENT_BYTES / 3) + 1);
  const half = "x".repeat(MAX_CONTENT_BYTES / 2 + 1);
  const cases: [string, unknown, string][] = [
    ["string content", withMessage({ role: "user", content: big }), "messages[0].content"],
    ["Chinese content", withMessage({ role: "user", content: bigChinese }), "messages[0].content"],
    [
      "one text part",
      withMessage({ role: "user", content: [{ type: "text", text: big }] }),
      "messages[0].content[0].text",
    ],
    [
      "text parts together",
      withMessage({
        role: "user",
        content: [
          { type: "text", text: half },
          { type: "text", text: half },
        ],
      }),
      "messages[0].content",
    ],
    ["message count", { messages: Array(MAX_MESSAGES + 1).fill(user) }, "messages"],
    [
      "tool count",
      chat({
        tools: Array.from({ length: MAX_TOOLS + 1 }, (_, i) => ({
          type: "function",
          function: { name: `f${i}` },
        })),
      }),
      "tools",
    ],
    ["tools JSON", tool({ description: "d".repeat(MAX_TOOLS_JSON_BYTES) }), "tools"],
    [
      "message name",
      withMessage({ role: "user", content: "x", name: "n".repeat(MAX_NAME_LENGTH + 1) }),
      "messages[0].name",
    ],
    [
      "tool_call_id",
      withMessage({ role: "tool", content: "x", tool_call_id: "i".repeat(MAX_ID_LENGTH + 1) }),
      "messages[0].tool_call_id",
    ],
    [
      "a tool call's id",
      withMessage({
        role: "assistant",
        tool_calls: [{ id: "i".repeat(MAX_ID_LENGTH + 1), function: { name: "f", arguments: "{}" } }],
      }),
      "messages[0].tool_calls[0].id",
    ],
    [
      "a tool call's arguments",
      withMessage({ role: "assistant", tool_calls: [{ id: "c", function: { name: "f", arguments: big } }] }),
      "messages[0].tool_calls[0].function.arguments",
    ],
  ];
  for (const [what, body, param] of cases) {
    const error = refusal(() => parseChatRequest(body));
    assert.deepEqual({ what, param: error.param, code: error.code }, { what, param, code: "invalid_value" });
    assert.ok(error.message.length < 300, `${what}: the message must not quote the value`);
  }
  // Exactly at the limits is fine.
  const atLimit = parseChatRequest({
    messages: [
      { role: "user", content: "x".repeat(MAX_CONTENT_BYTES) },
      ...Array(MAX_MESSAGES - 1).fill(user),
    ],
    stop: Array(MAX_STOP_STRINGS).fill("s".repeat(MAX_STOP_LENGTH)),
  });
  assert.equal(atLimit.prompt.kind === "chat" && atLimit.prompt.messages.length, MAX_MESSAGES);
});

test("clip cuts long client strings to 100 characters, never inside a surrogate pair", () => {
  assert.equal(clip("short"), "short");
  assert.equal(clip("a".repeat(100)), "a".repeat(100));
  assert.equal(clip("a".repeat(1_000_000)), `${"a".repeat(100)}…`);
  const emoji = `${"a".repeat(99)}😀tail`;
  assert.equal(clip(emoji), `${"a".repeat(99)}…`);
});

test("jsonFitsIn measures JSON bytes exactly, without recursion", () => {
  const values = [
    {},
    [],
    { a: 1, 'k"ey': ["x", null, true, 2.5, { nested: "北京" }] },
    [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
  ];
  for (const value of values) {
    const bytes = Buffer.byteLength(JSON.stringify(value));
    assert.equal(jsonFitsIn(value, bytes), true);
    assert.equal(jsonFitsIn(value, bytes - 1), false);
  }
  // 100,000 levels: JSON.stringify would overflow the stack.
  let deep: unknown = "leaf";
  for (let i = 0; i < 100_000; i++) deep = { d: deep };
  assert.equal(jsonFitsIn(deep, 10 * 1024 * 1024), true);
});
