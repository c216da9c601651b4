import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Response, ResponseStreamEvent } from "openai/resources/responses/responses";
import { toErrorResponse } from "../../src/api/errors.js";
import { type ResponseEcho, ResponseEventBuilder } from "../../src/openai/to-responses.js";
import { ContextOverflowError } from "../../src/provider/errors.js";
import type { StreamPart } from "../../src/provider/types.js";
import { eventErrors, specErrors } from "../helpers/openai-spec.js";

// Every shape /v1/responses sends, checked against OpenAI's own schemas (the spec's relevant parts, kept as
// test/openai/spec/openai-responses-spec.json by scripts/extract-responses-spec.mjs): a Response body,
// each stream event by its type, and an error body. A field the spec requires and we leave out fails here.

const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../../test/openai/fixtures/responses",
);

const echo: ResponseEcho = {
  instructions: "Be brief.",
  max_output_tokens: 64,
  temperature: 0.5,
  top_p: null,
  tools: [
    { type: "function", name: "get_time", description: null, parameters: { type: "object" }, strict: null },
    {
      type: "namespace",
      name: "crm",
      description: "Customer records.",
      tools: [{ type: "function", name: "find", parameters: { type: "object" }, strict: false }],
    },
  ],
  tool_choice: "auto",
  parallel_tool_calls: true,
  text: { format: { type: "text" } },
  metadata: { k: "v" },
  previous_response_id: null,
  store: true,
};

function builder(overrides: Partial<ResponseEcho> = {}) {
  let n = 0;
  return new ResponseEventBuilder(
    {
      id: "resp_1",
      createdAt: 100,
      model: "m",
      echo: { ...echo, ...overrides },
      namespaced: new Map([["crm__find", { namespace: "crm", name: "find" }]]),
    },
    (prefix) => `${prefix}_${++n}`,
    () => 101,
  );
}

const usage = { promptTokens: 10, completionTokens: 5, cachedTokens: 4 };
const token = (text: string) => ({
  token: text,
  bytes: [...Buffer.from(text)],
  logprob: -0.5,
  top: [{ token: text, bytes: [...Buffer.from(text)], logprob: -0.5 }],
});

/** Each event, and the response the last one carries, checked; all errors listed at once. */
function check(events: readonly ResponseStreamEvent[], body?: Response): void {
  const errors = events.flatMap((event, i) => eventErrors(event).map((e) => `event ${i}: ${e}`));
  if (body) errors.push(...specErrors("Response", body));
  assert.deepEqual(errors, []);
}

function run(parts: StreamPart[], b = builder()): { events: ResponseStreamEvent[]; body: Response } {
  const events = [...b.start(), ...parts.flatMap((p) => b.push(p))];
  return { events, body: b.response() };
}

test("text, a function call and a namespaced call: every event and the body as the spec has them", () => {
  const { events, body } = run([
    { type: "text-delta", text: "Let me look." },
    { type: "tool-call-delta", index: 0, id: "call_a", name: "get_time", argumentsDelta: '{"city":' },
    { type: "tool-call-delta", index: 0, argumentsDelta: '"Paris"}' },
    { type: "tool-call-delta", index: 1, id: "call_b", name: "crm__find", argumentsDelta: "{}" },
    { type: "finish", finishReason: "tool_calls", usage },
  ]);
  check(events, body);
  const call = body.output.find((item) => item.type === "function_call" && item.call_id === "call_b");
  assert.ok(call?.type === "function_call");
  assert.deepEqual({ namespace: call.namespace, name: call.name }, { namespace: "crm", name: "find" });
});

test("output_text carries logprobs everywhere: empty unless asked for, the tokens when asked for", () => {
  const plain = run([
    { type: "text-delta", text: "Hi" },
    { type: "finish", finishReason: "stop", usage },
  ]);
  check(plain.events, plain.body);
  const parts = plain.events.flatMap((e) =>
    e.type === "response.content_part.added" || e.type === "response.content_part.done" ? [e.part] : [],
  );
  const items = plain.events.flatMap((e) =>
    e.type === "response.output_item.done" && e.item.type === "message" ? e.item.content : [],
  );
  for (const part of [...parts, ...items, ...(plain.body.output[0] as { content: unknown[] }).content])
    assert.deepEqual((part as { logprobs?: unknown }).logprobs, [], JSON.stringify(part));

  const asked = run(
    [
      { type: "text-delta", text: "Hi", logprobs: [token("H"), token("i")] },
      { type: "text-delta", text: "!", logprobs: [token("!")] },
      { type: "finish", finishReason: "stop", usage },
    ],
    builder({ top_logprobs: 1 }),
  );
  check(asked.events, asked.body);
  const text = asked.body.output[0].type === "message" ? asked.body.output[0].content[0] : undefined;
  assert.deepEqual(text?.type === "output_text" && text.logprobs?.map((p) => p.token), ["H", "i", "!"]);
  const done = asked.events.find((e) => e.type === "response.output_text.done");
  assert.equal(done?.type === "response.output_text.done" && done.logprobs.length, 3);
  assert.equal(asked.body.top_logprobs, 1);
});

test("a file search with results and a citation, a cut call, an empty answer, a failure: all as the spec has them", () => {
  const searched = builder();
  const events = [
    ...searched.start(),
    ...searched.fileSearchCall(
      ["q"],
      [{ file_id: "file_1", filename: "a.md", score: 0.5, text: "passage", attributes: {} }],
    ),
    ...searched.push({ type: "text-delta", text: "As the file says" }),
    ...searched.annotate({ file_id: "file_1", filename: "a.md" }),
    ...searched.push({ type: "finish", finishReason: "stop", usage }),
  ];
  check(events, searched.response());

  const cut = run([
    { type: "tool-call-delta", index: 0, id: "call_a", name: "get_time", argumentsDelta: '{"ci' },
    { type: "finish", finishReason: "length", usage },
  ]);
  check(cut.events, cut.body);
  assert.equal(cut.body.status, "incomplete");

  const empty = run([{ type: "finish", finishReason: "stop", usage }]);
  check(empty.events, empty.body);

  const failing = builder({ store: false });
  const failed = [
    ...failing.start(),
    ...failing.push({ type: "text-delta", text: "x" }),
    ...failing.fail({ message: "boom", type: "server_error", param: null, code: "server_error" }),
  ];
  check(failed, failing.response());
});

test("an error body is the spec's ErrorResponse", () => {
  const { body } = toErrorResponse(
    new ContextOverflowError(() => "The prompt is too long."),
    { bodyLimit: 1 },
    "responses",
  );
  assert.deepEqual(specErrors("ErrorResponse", body), []);
});

// openai-text.json is not checked: hand-written from OpenAI's docs example, it is not valid under OpenAI's own
// spec (no `logprobs` on its output_text, `usage: null`, `user: null`).
test("the recorded streams (test/openai/fixtures/responses) are valid under the spec", () => {
  for (const name of ["edgellm-text.json", "edgellm-tool-call.json"]) {
    const { events } = JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8")) as {
      events: ResponseStreamEvent[];
    };
    const errors = events.flatMap((event, i) => eventErrors(event).map((e) => `${name} event ${i}: ${e}`));
    assert.deepEqual(errors, []);
  }
});

test("the check bites: an output_text without logprobs, or an event with a wrong type, is named", () => {
  const { events } = run([
    { type: "text-delta", text: "Hi" },
    { type: "finish", finishReason: "stop", usage },
  ]);
  const added = structuredClone(events.find((e) => e.type === "response.content_part.added"));
  assert.ok(added?.type === "response.content_part.added");
  delete (added.part as { logprobs?: unknown }).logprobs;
  assert.match(eventErrors(added).join("\n"), /logprobs/);
  assert.match(eventErrors({ type: "response.made_up" }).join("\n"), /no event of type/);
  const body = structuredClone(run([{ type: "finish", finishReason: "stop", usage }]).body);
  (body as { status: unknown }).status = "finished";
  assert.match(specErrors("Response", body).join("\n"), /status/);
});
