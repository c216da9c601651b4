import assert from "node:assert/strict";
import { test } from "node:test";
import {
  toChatBody,
  toCompletionBody,
  unsentSamplingWarnings,
} from "../../src/openai/to-upstream-request.js";
import { type ChatMessage, DEFAULT_SAMPLING, type GenerateRequest } from "../../src/provider/types.js";

// Client side, outward: our request to the body an OpenAI-compatible upstream is sent.

const messages: ChatMessage[] = [
  { role: "system", content: "be brief" },
  { role: "user", content: "weather?" },
  { role: "assistant", content: "", toolCalls: [{ id: "call_1", name: "f", arguments: '{"a":1}' }] },
  { role: "tool", content: "21", toolCallId: "call_1" },
];
const chat = (extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  model: "m",
  prompt: { kind: "chat", messages },
  sampling: DEFAULT_SAMPLING,
  ...extra,
});
const streamed = { model: "up", stream: true, stream_options: { include_usage: true } };

const CASES: [string, () => unknown, unknown][] = [
  [
    "a plain chat: defaults left out, history with calls and results",
    () => toChatBody("up", chat(), messages),
    {
      ...streamed,
      temperature: 0.8,
      top_p: 0.95,
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "weather?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
        },
        { role: "tool", tool_call_id: "call_1", content: "21" },
      ],
    },
  ],
  [
    "sampling fields OpenAI has",
    () =>
      toChatBody(
        "up",
        chat({
          sampling: {
            ...DEFAULT_SAMPLING,
            temperature: 0,
            maxTokens: 9,
            seed: 4,
            stop: ["END"],
            presencePenalty: 0.5,
            frequencyPenalty: -1,
          },
        }),
        [],
      ),
    {
      ...streamed,
      temperature: 0,
      top_p: 0.95,
      max_tokens: 9,
      seed: 4,
      stop: ["END"],
      presence_penalty: 0.5,
      frequency_penalty: -1,
      messages: [],
    },
  ],
  [
    "tools, a forced call, parallel calls off, a schema and logprobs",
    () => {
      const request = chat({
        prompt: { kind: "chat", messages: [], tools: [{ name: "f", parameters: { type: "object" } }] },
        toolChoice: { name: "f" },
        parallelToolCalls: false,
        format: { kind: "json_schema", name: "w", schema: { type: "object" } },
        logprobs: { top: 2 },
      });
      const { model, stream, stream_options, temperature, top_p, messages, ...rest } = toChatBody(
        "up",
        request,
        [],
      );
      return rest;
    },
    {
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
      tool_choice: { type: "function", function: { name: "f" } },
      parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { name: "w", schema: { type: "object" } } },
      logprobs: true,
      top_logprobs: 2,
    },
  ],
  [
    "no tools, no tool_choice: a choice without tools is not sent",
    () => "tool_choice" in toChatBody("up", chat({ toolChoice: "auto" }), []),
    false,
  ],
  [
    "json mode",
    () => toChatBody("up", chat({ format: { kind: "json" } }), []).response_format,
    { type: "json_object" },
  ],
  [
    "a text prompt",
    () => toCompletionBody("up", { ...chat(), prompt: { kind: "text", text: "Once" } }, "Once"),
    { ...streamed, temperature: 0.8, top_p: 0.95, prompt: "Once" },
  ],
  [
    "logit_bias passes through as OpenAI's object (ids are the upstream's vocabulary's)",
    () =>
      toChatBody(
        "up",
        chat({
          sampling: {
            ...DEFAULT_SAMPLING,
            logitBias: [
              [15, -100],
              [2000, 3.5],
            ],
          },
        }),
        [],
      ).logit_bias,
    { "15": -100, "2000": 3.5 },
  ],
];

for (const [name, build, expected] of CASES) {
  test(`to-upstream-request: ${name}`, () => assert.deepEqual(build(), expected));
}

test("sampling fields OpenAI has no field for are warned about when the client set them", () => {
  assert.deepEqual(unsentSamplingWarnings(DEFAULT_SAMPLING), []);
  assert.deepEqual(
    unsentSamplingWarnings({
      ...DEFAULT_SAMPLING,
      topK: 5,
      minP: 0,
      repetitionPenalty: 1.1,
      ignoreEos: true,
    }),
    [
      "top_k=5 not sent: the upstream API has no such field",
      "min_p=0 not sent: the upstream API has no such field",
      "repetition_penalty=1.1 not sent: the upstream API has no such field",
      "ignore_eos=true not sent: the upstream API has no such field",
    ],
  );
  const body = toChatBody("up", chat({ sampling: { ...DEFAULT_SAMPLING, topK: 5, minP: 0 } }), []);
  assert.ok(!("top_k" in body) && !("min_p" in body), "they are indeed not sent");
});
