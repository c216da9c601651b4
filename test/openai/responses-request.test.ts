import assert from "node:assert/strict";
import { test } from "node:test";
import { parseResponsesBody } from "../../src/api/parse-request.js";
import { fromResponsesRequest, type ResponsesHistory } from "../../src/openai/from-responses-request.js";
import { EdgeError } from "../../src/provider/errors.js";
import type { ChatMessage } from "../../src/provider/types.js";

// Server side, inward, for /v1/responses: a body through the schema and the translation.

const translate = (body: unknown, history?: ResponsesHistory) =>
  fromResponsesRequest(parseResponsesBody(body), history);

function refusal(body: unknown, history?: ResponsesHistory): { param: string | null; code: string } {
  try {
    translate(body, history);
  } catch (error) {
    assert.ok(error instanceof EdgeError, String(error));
    assert.equal(error.status, 400, error.message);
    return { param: error.param, code: error.code };
  }
  assert.fail(`accepted ${JSON.stringify(body)}`);
}

test("a string input is one user message; instructions lead as a system message but are not kept", () => {
  const { parsed, conversation, echo } = translate({
    model: "local",
    input: "hi",
    instructions: "Be brief.",
    max_output_tokens: 20,
    temperature: 0.3,
    top_p: 0.9,
    stream: true,
  });
  assert.deepEqual(parsed.prompt, {
    kind: "chat",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi" },
    ],
  });
  assert.deepEqual(conversation, [{ role: "user", content: "hi" }]);
  assert.equal(parsed.sampling.maxTokens, 20);
  assert.equal(parsed.sampling.temperature, 0.3);
  assert.equal(parsed.sampling.topP, 0.9);
  assert.equal(parsed.stream, true);
  assert.equal(echo.instructions, "Be brief.");
  assert.equal(echo.store, true, "OpenAI stores by default");
  assert.equal(echo.tool_choice, "auto");
});

test("items: messages (developer as system), function calls joined to the assistant turn, their outputs as tool messages", () => {
  const { parsed } = translate({
    input: [
      { role: "developer", content: "rules" },
      {
        type: "message",
        role: "user",
        content: [
          { type: "input_text", text: "a" },
          { type: "input_text", text: "b" },
        ],
      },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "calling" }] },
      { type: "function_call", call_id: "c1", name: "f", arguments: "{}" },
      { type: "function_call", call_id: "c2", name: "g", arguments: '{"x":1}' },
      { type: "function_call_output", call_id: "c1", output: "one" },
      { type: "function_call_output", call_id: "c2", output: [{ type: "input_text", text: "two" }] },
      { type: "function_call", call_id: "c3", name: "f", arguments: "{}" },
    ],
  });
  assert.deepEqual(parsed.prompt.kind === "chat" && parsed.prompt.messages, [
    { role: "system", content: "rules" },
    { role: "user", content: "a\nb" },
    {
      role: "assistant",
      content: "calling",
      toolCalls: [
        { id: "c1", name: "f", arguments: "{}" },
        { id: "c2", name: "g", arguments: '{"x":1}' },
      ],
    },
    { role: "tool", content: "one", toolCallId: "c1" },
    { role: "tool", content: "two", toolCallId: "c2" },
    { role: "assistant", content: "", toolCalls: [{ id: "c3", name: "f", arguments: "{}" }] },
  ]);
});

test("truncation auto asks for the oldest turns to be dropped, disabled for a refusal; a conversation's items lead", () => {
  assert.equal(translate({ input: "x", truncation: "auto" }).parsed.controls.contextOverflow, "truncate");
  assert.equal(translate({ input: "x", truncation: "disabled" }).parsed.controls.contextOverflow, "error");
  assert.equal(translate({ input: "x" }).parsed.controls.contextOverflow, undefined);
  const { conversation, echo } = translate(
    { input: "next", conversation: { id: "conv_1" }, truncation: "auto" },
    {
      conversationItems: [
        {
          type: "message",
          id: "msg_1",
          status: "completed",
          role: "user",
          content: [{ type: "input_text", text: "hi" }],
        },
        {
          type: "message",
          id: "msg_2",
          role: "assistant",
          content: [{ type: "output_text", text: "yo", annotations: [] }],
        },
      ],
    },
  );
  assert.deepEqual(conversation, [
    { role: "user", content: "hi" },
    { role: "assistant", content: "yo" },
    { role: "user", content: "next" },
  ]);
  assert.deepEqual(echo.conversation, { id: "conv_1" });
  assert.equal(echo.truncation, "auto");
});

test("previous_response_id's conversation comes first; an item_reference is looked up", () => {
  const previous: ChatMessage[] = [
    { role: "user", content: "q" },
    { role: "assistant", content: "a" },
  ];
  const items: Record<string, ChatMessage> = { msg_1: { role: "assistant", content: "earlier" } };
  const history: ResponsesHistory = { previous, item: (id) => items[id] };
  const { conversation } = translate(
    {
      input: [
        { type: "item_reference", id: "msg_1" },
        { role: "user", content: "next" },
      ],
      previous_response_id: "resp_1",
    },
    history,
  );
  assert.deepEqual(conversation, [...previous, items.msg_1, { role: "user", content: "next" }]);
  assert.deepEqual(refusal({ input: [{ type: "item_reference", id: "msg_2" }] }, history), {
    param: "input[0].id",
    code: "previous_response_not_found",
  });
});

test("function tools and tool_choice become the chat ones; text.format json_schema the same structured output", () => {
  const schema = { type: "object", properties: { a: { type: "integer" } }, required: ["a"] };
  const { parsed, echo } = translate({
    input: "hi",
    tools: [{ type: "function", name: "f", description: "does f", parameters: schema, strict: true }],
    tool_choice: { type: "function", name: "f" },
    parallel_tool_calls: false,
    text: { format: { type: "json_schema", name: "out", schema, strict: true } },
  });
  assert.deepEqual(parsed.prompt.kind === "chat" && parsed.prompt.tools, [
    { name: "f", description: "does f", parameters: schema },
  ]);
  assert.deepEqual(parsed.controls.toolChoice, { name: "f" });
  assert.equal(parsed.controls.parallelToolCalls, false);
  assert.deepEqual(parsed.controls.format, { kind: "json_schema", name: "out", schema });
  assert.deepEqual(echo.tool_choice, { type: "function", name: "f" });
  assert.equal(echo.tools[0]?.type === "function" && echo.tools[0].name, "f");
  assert.deepEqual(
    translate({ input: "x", text: { format: { type: "json_object" } } }).parsed.controls.format,
    {
      kind: "json",
    },
  );
});

test("refusals name the parameter", () => {
  const cases: [unknown, string | null, string][] = [
    [{ input: "x", tool_choice: { type: "web_search_preview" } }, "tool_choice.type", "unsupported_tool"],
    [
      { input: "x", tools: [{ type: "web_search" }], tool_choice: "required" },
      "tool_choice",
      "unsupported_tool",
    ],
    [
      {
        input: "x",
        tools: [{ type: "function", name: "f" }, { type: "image_generation" }],
        tool_choice: { type: "allowed_tools", mode: "required", tools: [{ type: "image_generation" }] },
      },
      "tool_choice.tools",
      "unsupported_tool",
    ],
    [{ input: "x", include: ["reasoning.everything"] }, "include[0]", "invalid_value"],
    [{ input: "x", reasoning: { effort: "extreme" } }, "reasoning.effort", "invalid_value"],
    [{ input: "x", tool_choice: "required" }, "tool_choice", "invalid_value"],
    [
      { input: "x", tools: [{ type: "function", name: "f" }], tool_choice: { type: "function", name: "g" } },
      "tool_choice.name",
      "invalid_value",
    ],
    [{ input: "x", background: true }, "background", "unsupported_parameter"],
    [
      { input: "x", conversation: "conv_1", previous_response_id: "resp_1" },
      "conversation",
      "unsupported_parameter",
    ],
    [{ input: [{ type: "reasoning", id: "r", summary: [] }] }, "input[0].type", "invalid_value"],
    [
      { input: [{ role: "user", content: [{ type: "input_image", image_url: "https://x/y.png" }] }] },
      "input[0].content[0].type",
      "invalid_value",
    ],
    [
      { input: [{ type: "function_call", name: "f", arguments: "{}" }] },
      "input[0].call_id",
      "missing_required_parameter",
    ],
    [{ model: "local" }, "input", "missing_required_parameter"],
    [{ input: [] }, "input", "invalid_value"],
    [{ input: "x", max_output_tokens: 0 }, "max_output_tokens", "invalid_value"],
    [
      { input: "x", text: { format: { type: "json_schema", name: "bad name", schema: {} } } },
      "text.format.name",
      "invalid_value",
    ],
  ];
  for (const [body, param, code] of cases)
    assert.deepEqual(refusal(body), { param, code }, JSON.stringify(body));
});

test("harmless hints are accepted: reasoning all null, text.verbosity, store false, metadata", () => {
  const { echo } = translate({
    input: "x",
    reasoning: { effort: null, summary: null },
    text: { verbosity: "low" },
    store: false,
    metadata: { k: "v" },
    truncation: "disabled",
    include: [],
  });
  assert.equal(echo.store, false);
  assert.deepEqual(echo.metadata, { k: "v" });
});

test("Codex's request: include, reasoning, prompt_cache_key and the rest are accepted and change nothing", () => {
  const codex = {
    model: "local",
    instructions: "You are a coding agent.",
    input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "say hi" }] }],
    tools: [{ type: "function", name: "exec_command", parameters: { type: "object" }, strict: false }],
    tool_choice: "auto",
    parallel_tool_calls: true,
    reasoning: { summary: "auto", effort: "medium" },
    store: false,
    stream: true,
    include: ["reasoning.encrypted_content"],
    prompt_cache_key: "01a2539c",
    service_tier: "auto",
    text: { verbosity: "low" },
    client_metadata: { thread_id: "01a2539c" },
  };
  const plain = translate({ ...codex, reasoning: undefined, include: undefined });
  const { parsed, echo } = translate(codex);
  assert.deepEqual(parsed, plain.parsed);
  assert.equal(echo.store, false);
  assert.equal(parsed.controls.logprobs, undefined, "nothing to include: no logprobs either");
  // Every value OpenAI documents is accepted.
  translate({
    input: "x",
    include: [
      "file_search_call.results",
      "web_search_call.results",
      "web_search_call.action.sources",
      "message.input_image.image_url",
      "computer_call_output.output.image_url",
      "code_interpreter_call.outputs",
      "reasoning.encrypted_content",
      "message.output_text.logprobs",
    ],
    reasoning: { effort: "xhigh", summary: "detailed", generate_summary: "concise" },
  });
});

test("include message.output_text.logprobs and top_logprobs ask for token logprobs", () => {
  const asked = translate({ input: "x", include: ["message.output_text.logprobs"], top_logprobs: 3 });
  assert.deepEqual(asked.parsed.controls.logprobs, { top: 3 });
  assert.equal(asked.echo.top_logprobs, 3);
  assert.deepEqual(
    translate({ input: "x", include: ["message.output_text.logprobs"] }).parsed.controls.logprobs,
    { top: 0 },
  );
  assert.deepEqual(translate({ input: "x", top_logprobs: 2 }).parsed.controls.logprobs, { top: 2 });
});

test("built-in tools offered are left out and named; function tools go on; forced ones are refused", () => {
  const { parsed, echo, ignoredTools } = translate({
    input: "x",
    tools: [
      { type: "web_search", external_web_access: false },
      { type: "function", name: "f", parameters: { type: "object" } },
      { type: "code_interpreter", container: { type: "auto" } },
      { type: "web_search" },
    ],
  });
  assert.deepEqual(ignoredTools, ["web_search", "code_interpreter"]);
  assert.ok(parsed.prompt.kind === "chat");
  assert.deepEqual(
    parsed.prompt.tools?.map((t) => t.name),
    ["f"],
  );
  assert.deepEqual(
    echo.tools.map((t) => t.type),
    ["function"],
  );
  // Only built-in tools: the model is offered none, and answers.
  const only = translate({ input: "x", tools: [{ type: "web_search" }] });
  assert.ok(only.parsed.prompt.kind === "chat" && only.parsed.prompt.tools === undefined);
  assert.deepEqual(only.ignoredTools, ["web_search"]);
});

test("a namespace tool's functions are offered flat and its calls map back; namespaced input calls too", () => {
  const crm = {
    type: "namespace",
    name: "crm",
    description: "Customer records.",
    tools: [
      { type: "function", name: "find", description: "Find a customer.", parameters: { type: "object" } },
      { type: "function", name: "update", parameters: { type: "object" } },
      { type: "custom", name: "free" },
    ],
  };
  const { parsed, echo, namespaced, ignoredTools } = translate({
    input: [
      { role: "user", content: "find Ann" },
      { type: "function_call", call_id: "c1", namespace: "crm", name: "find", arguments: "{}" },
      { type: "function_call_output", call_id: "c1", output: "found" },
    ],
    tools: [crm, { type: "function", name: "find" }],
  });
  assert.ok(parsed.prompt.kind === "chat");
  assert.deepEqual(
    parsed.prompt.tools?.map((t) => [t.name, t.description]),
    [
      ["crm__find", "Find a customer."],
      ["crm__update", "Customer records."],
      ["find", undefined],
    ],
  );
  assert.deepEqual(namespaced.get("crm__update"), { namespace: "crm", name: "update" });
  assert.deepEqual(ignoredTools, ["custom"]);
  assert.deepEqual(parsed.prompt.messages[1].toolCalls, [{ id: "c1", name: "crm__find", arguments: "{}" }]);
  assert.deepEqual(
    echo.tools.map((t) => [t.type, "name" in t ? t.name : undefined]),
    [
      ["namespace", "crm"],
      ["function", "find"],
    ],
  );
  // allowed_tools may name a whole namespace or one of its functions.
  const allowed = translate({
    input: "x",
    tools: [crm, { type: "function", name: "other" }],
    tool_choice: { type: "allowed_tools", mode: "required", tools: [{ type: "namespace", name: "crm" }] },
  });
  assert.ok(allowed.parsed.prompt.kind === "chat");
  assert.deepEqual(
    allowed.parsed.prompt.tools?.map((t) => t.name),
    ["crm__find", "crm__update"],
  );
  assert.equal(allowed.parsed.controls.toolChoice, "required");
  assert.equal((allowed.echo.tool_choice as { type: string }).type, "allowed_tools");
});
