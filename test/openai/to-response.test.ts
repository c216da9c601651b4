import assert from "node:assert/strict";
import { test } from "node:test";
import {
  completeCalls,
  newResponseMeta,
  toChatChunk,
  toChatCompletion,
  toChatUsageChunk,
  toCompletion,
  toCompletionChunk,
  toCompletionUsageChunk,
  toToolCallChunk,
} from "../../src/openai/to-response.js";
import type { TokenLogprob } from "../../src/provider/types.js";

// Server side, outward: each builder against the object OpenAI documents for it.

const meta = { id: "chatcmpl-1", created: 1, model: "m" };
const usage = { promptTokens: 5, completionTokens: 3, cachedTokens: 2 };
const wireUsage = {
  prompt_tokens: 5,
  completion_tokens: 3,
  total_tokens: 8,
  prompt_tokens_details: { cached_tokens: 2 },
};
const chunk = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "m" };
const textChunk = { id: "chatcmpl-1", object: "text_completion", created: 1, model: "m" };
const logprob: TokenLogprob = {
  token: "hi",
  bytes: [104, 105],
  logprob: -0.5,
  top: [{ token: "hi", bytes: [104, 105], logprob: -0.5 }],
};
const wireLogprobs = {
  content: [
    {
      token: "hi",
      logprob: -0.5,
      bytes: [104, 105],
      top_logprobs: [{ token: "hi", logprob: -0.5, bytes: [104, 105] }],
    },
  ],
  refusal: null,
};
const call = { id: "call_1", name: "f", arguments: '{"a":1}' };

const CASES: [string, () => unknown, unknown][] = [
  [
    "a whole chat answer",
    () => toChatCompletion(meta, "hi", "stop", usage),
    {
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1,
      model: "m",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "hi", refusal: null },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: wireUsage,
    },
  ],
  [
    "a call-only answer has null content, and logprobs when asked",
    () =>
      toChatCompletion(meta, "", "tool_calls", usage, { toolCalls: [call], logprobs: [logprob] }).choices[0],
    {
      index: 0,
      message: {
        role: "assistant",
        content: null,
        refusal: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
      },
      logprobs: wireLogprobs,
      finish_reason: "tool_calls",
    },
  ],
  [
    "a call cut by max_tokens is left out of a whole answer",
    () =>
      toChatCompletion(meta, "", "length", usage, { toolCalls: [call, { ...call, arguments: '{"a' }] })
        .choices[0].message.tool_calls,
    [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
  ],
  [
    "the opening chunk",
    () => toChatChunk(meta, { role: "assistant", content: "" }, null),
    {
      ...chunk,
      choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }],
    },
  ],
  [
    "a text chunk with logprobs",
    () => toChatChunk(meta, { content: "hi" }, null, [logprob]).choices[0],
    { index: 0, delta: { content: "hi" }, logprobs: wireLogprobs, finish_reason: null },
  ],
  [
    "the finish chunk",
    () => toChatChunk(meta, {}, "length").choices[0],
    { index: 0, delta: {}, logprobs: null, finish_reason: "length" },
  ],
  [
    "a tool call's first fragment carries id, type and name",
    () => toToolCallChunk(meta, { index: 0, id: "call_1", name: "f", argumentsDelta: "" }).choices[0].delta,
    { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "" } }] },
  ],
  [
    "a later fragment carries arguments only",
    () => toToolCallChunk(meta, { index: 1, argumentsDelta: '{"a"' }).choices[0].delta,
    { tool_calls: [{ index: 1, function: { arguments: '{"a"' } }] },
  ],
  [
    "the usage chunk has no choices",
    () => toChatUsageChunk(meta, usage),
    { ...chunk, choices: [], usage: wireUsage },
  ],
  [
    "a whole text completion",
    () => toCompletion(meta, "t", "length", usage),
    {
      ...textChunk,
      choices: [{ index: 0, text: "t", logprobs: null, finish_reason: "length" }],
      usage: wireUsage,
    },
  ],
  [
    "a text completion chunk",
    () => toCompletionChunk(meta, "t", null),
    { ...textChunk, choices: [{ index: 0, text: "t", logprobs: null, finish_reason: null }] },
  ],
  [
    "a text completion's usage chunk",
    () => toCompletionUsageChunk(meta, usage),
    { ...textChunk, choices: [], usage: wireUsage },
  ],
  ["complete calls are kept whatever the reason", () => completeCalls([call], "length"), [call]],
];

for (const [name, build, expected] of CASES) {
  test(`to-response: ${name}`, () => assert.deepEqual(build(), expected));
}

test("response ids say their kind and are unique", () => {
  const a = newResponseMeta("chat", "m");
  const b = newResponseMeta("chat", "m");
  assert.match(a.id, /^chatcmpl-[0-9a-f]{32}$/);
  assert.match(newResponseMeta("text", "m").id, /^cmpl-[0-9a-f]{32}$/);
  assert.notEqual(a.id, b.id);
});
