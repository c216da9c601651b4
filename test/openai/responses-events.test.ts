import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { accumulateResponse } from "openai/lib/responses/ResponseAccumulator";
import type { Response, ResponseStreamEvent } from "openai/resources/responses/responses";
import { type ResponseEcho, ResponseEventBuilder } from "../../src/openai/to-responses.js";
import type { StreamPart } from "../../src/provider/types.js";

// Server side, outward, for /v1/responses: our parts to the Responses event sequence, against recorded
// and hand-written fixtures, checked by the official SDK's own accumulator.

const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../../test/openai/fixtures/responses",
);

interface Fixture {
  source: string;
  request: { path: string; body: Record<string, unknown> };
  events: ResponseStreamEvent[];
}

const fixture = (name: string): Fixture => JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8"));

const echo: ResponseEcho = {
  instructions: null,
  max_output_tokens: null,
  temperature: null,
  top_p: null,
  tools: [],
  tool_choice: "auto",
  parallel_tool_calls: true,
  text: { format: { type: "text" } },
  metadata: {},
  previous_response_id: null,
  store: true,
};

function builder(overrides: Partial<ResponseEcho> = {}, model = "m") {
  let n = 0;
  return new ResponseEventBuilder(
    { id: "resp_1", createdAt: 100, model, echo: { ...echo, ...overrides } },
    (prefix) => `${prefix}_${++n}`,
    () => 101,
  );
}

function run(parts: StreamPart[], b = builder()): ResponseStreamEvent[] {
  return [...b.start(), ...parts.flatMap((p) => b.push(p))];
}

const usage = { promptTokens: 10, completionTokens: 5, cachedTokens: 4 };

/** The official SDK's accumulation of the events; it throws on an event that does not fit the snapshot. */
function accumulate(events: readonly ResponseStreamEvent[]): Response {
  let snapshot: Response | undefined;
  for (const event of events) snapshot = accumulateResponse(event, snapshot);
  assert.ok(snapshot);
  return snapshot;
}

function checkSequence(events: readonly ResponseStreamEvent[]): void {
  assert.deepEqual(
    events.map((e) => e.sequence_number),
    events.map((_, i) => i),
  );
  const last = events.at(-1);
  assert.ok(last && "response" in last);
  // What a client accumulates from the events is what the last event says the response is.
  assert.deepEqual(accumulate(events).output, last.response.output);
}

test("text then two calls: each item opened, filled and closed in order, with the SDK agreeing", () => {
  const events = run([
    { type: "meta", meta: { route: "local" } },
    { type: "text-delta", text: "Let me " },
    { type: "text-delta", text: "check." },
    { type: "tool-call-delta", index: 0, id: "call_a", name: "f", argumentsDelta: "" },
    { type: "tool-call-delta", index: 0, argumentsDelta: '{"x":' },
    { type: "tool-call-delta", index: 0, argumentsDelta: "1}" },
    { type: "tool-call-delta", index: 1, id: "call_b", name: "g", argumentsDelta: "{}" },
    { type: "finish", finishReason: "tool_calls", usage },
  ]);
  assert.deepEqual(
    events.map((e) => [e.type, "output_index" in e ? e.output_index : null]),
    [
      ["response.created", null],
      ["response.in_progress", null],
      ["response.output_item.added", 0],
      ["response.content_part.added", 0],
      ["response.output_text.delta", 0],
      ["response.output_text.delta", 0],
      ["response.output_text.done", 0],
      ["response.content_part.done", 0],
      ["response.output_item.done", 0],
      ["response.output_item.added", 1],
      ["response.function_call_arguments.delta", 1],
      ["response.function_call_arguments.delta", 1],
      ["response.function_call_arguments.done", 1],
      ["response.output_item.done", 1],
      ["response.output_item.added", 2],
      ["response.function_call_arguments.delta", 2],
      ["response.function_call_arguments.done", 2],
      ["response.output_item.done", 2],
      ["response.completed", null],
    ],
  );
  checkSequence(events);
  const done = events.at(-1) as Extract<ResponseStreamEvent, { type: "response.completed" }>;
  assert.equal(done.response.status, "completed");
  assert.equal(done.response.output_text, "Let me check.");
  assert.deepEqual(
    done.response.output.map(
      (item) => item.type === "function_call" && [item.id, item.call_id, item.arguments],
    ),
    [false, ["fc_2", "call_a", '{"x":1}'], ["fc_3", "call_b", "{}"]],
  );
  assert.deepEqual(done.response.usage, {
    input_tokens: 10,
    input_tokens_details: { cached_tokens: 4, cache_write_tokens: 6 },
    output_tokens: 5,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 15,
  });
  // The created event's snapshot is not changed by what came after it.
  assert.deepEqual((events[0] as { response: Response }).response.output, []);
});

test("cut by max_output_tokens: response.incomplete; a call cut inside its arguments is incomplete and not kept", () => {
  const b = builder({ max_output_tokens: 3 });
  const events = run(
    [
      { type: "tool-call-delta", index: 0, id: "call_a", name: "f", argumentsDelta: "{}" },
      { type: "tool-call-delta", index: 1, id: "call_b", name: "f", argumentsDelta: '{"x":' },
      { type: "finish", finishReason: "length", usage },
    ],
    b,
  );
  checkSequence(events);
  const last = events.at(-1) as Extract<ResponseStreamEvent, { type: "response.incomplete" }>;
  assert.equal(last.type, "response.incomplete");
  assert.equal(last.response.status, "incomplete");
  assert.deepEqual(last.response.incomplete_details, { reason: "max_output_tokens" });
  // A call whose arguments are whole JSON is kept, as on chat completions; the one cut inside is not.
  assert.deepEqual(
    last.response.output.map((item) => item.type === "function_call" && item.status),
    ["completed", "incomplete"],
  );
  assert.deepEqual(b.conversation(), [
    { role: "assistant", content: "", toolCalls: [{ id: "call_a", name: "f", arguments: "{}" }] },
  ]);
});

test("an empty answer still has an empty message; the conversation and items are kept as our messages", () => {
  const b = builder();
  const events = run([{ type: "finish", finishReason: "stop", usage }], b);
  checkSequence(events);
  assert.equal(b.response().output[0].type, "message");
  assert.equal(b.response().output_text, "");
  const withCall = builder();
  run(
    [
      { type: "text-delta", text: "ok" },
      { type: "tool-call-delta", index: 0, id: "call_a", name: "f", argumentsDelta: "{}" },
      { type: "finish", finishReason: "tool_calls", usage },
    ],
    withCall,
  );
  assert.deepEqual(withCall.conversation(), [
    { role: "assistant", content: "ok", toolCalls: [{ id: "call_a", name: "f", arguments: "{}" }] },
  ]);
  assert.deepEqual(
    withCall.items().map((i) => i.id),
    ["msg_1", "fc_2"],
  );
});

test("an error after the start: an error event, then response.failed", () => {
  const b = builder();
  const events = [
    ...run([{ type: "text-delta", text: "a" }], b),
    ...b.fail({
      message: "The upstream broke.",
      type: "server_error",
      param: null,
      code: "upstream_stream_broken",
    }),
  ];
  const [error, failed] = events.slice(-2);
  assert.deepEqual(error, {
    type: "error",
    code: "upstream_stream_broken",
    message: "The upstream broke.",
    param: null,
    sequence_number: events.length - 2,
  });
  assert.equal(failed.type, "response.failed");
  assert.equal(failed.type === "response.failed" && failed.response.status, "failed");
  assert.deepEqual(failed.type === "response.failed" && failed.response.error, {
    code: "server_error",
    message: "The upstream broke.",
  });
});

/** Ids and times as placeholders, numbered by first appearance, so two runs compare. */
function normalize(events: readonly ResponseStreamEvent[]): unknown {
  const ids = new Map<string, string>();
  return JSON.parse(JSON.stringify(events), (key, value) => {
    if (key === "created_at" || key === "completed_at") return 0;
    if (typeof value === "string" && /^(resp|msg|fc|call)_/.test(value)) {
      if (!ids.has(value)) ids.set(value, `<id${ids.size}>`);
      return ids.get(value);
    }
    return value;
  });
}

/** The parts a recorded stream came from, read back from its events. */
function partsOf(events: readonly ResponseStreamEvent[]): StreamPart[] {
  const parts: StreamPart[] = [];
  const calls = new Map<number, number>();
  for (const e of events) {
    if (e.type === "response.output_text.delta") parts.push({ type: "text-delta", text: e.delta });
    else if (e.type === "response.output_item.added" && e.item.type === "function_call") {
      calls.set(e.output_index, calls.size);
      parts.push({
        type: "tool-call-delta",
        index: calls.size - 1,
        id: e.item.call_id,
        name: e.item.name,
        argumentsDelta: "",
      });
    } else if (e.type === "response.function_call_arguments.delta")
      parts.push({ type: "tool-call-delta", index: calls.get(e.output_index) ?? 0, argumentsDelta: e.delta });
    else if (e.type === "response.completed" || e.type === "response.incomplete") {
      const u = e.response.usage;
      assert.ok(u);
      parts.push({
        type: "finish",
        finishReason: e.type === "response.incomplete" ? "length" : calls.size > 0 ? "tool_calls" : "stop",
        usage: {
          promptTokens: u.input_tokens,
          completionTokens: u.output_tokens,
          cachedTokens: u.input_tokens_details.cached_tokens,
        },
      });
    }
  }
  return parts;
}

for (const name of ["edgellm-text.json", "edgellm-tool-call.json"]) {
  test(`recorded ${name}: the SDK accumulates it, and the same parts give the same events`, () => {
    const { events } = fixture(name);
    checkSequence(events);
    const created = events[0] as Extract<ResponseStreamEvent, { type: "response.created" }>;
    const b = new ResponseEventBuilder(
      {
        id: created.response.id,
        createdAt: 0,
        model: created.response.model,
        echo: echoOf(created.response),
      },
      (prefix) => `${prefix}_x${Math.random()}`,
    );
    assert.deepEqual(normalize(run(partsOf(events), b)), normalize(events));
  });
}

function echoOf(r: Response): ResponseEcho {
  return {
    instructions: typeof r.instructions === "string" ? r.instructions : null,
    max_output_tokens: r.max_output_tokens ?? null,
    temperature: r.temperature,
    top_p: r.top_p,
    tools: r.tools as ResponseEcho["tools"],
    tool_choice: r.tool_choice,
    parallel_tool_calls: r.parallel_tool_calls,
    text: r.text ?? {},
    metadata: (r.metadata ?? {}) as Record<string, string>,
    previous_response_id: r.previous_response_id ?? null,
    store: true,
  };
}

test("OpenAI's documented text stream: the same events, in the same order, with the same fields", () => {
  const { events: theirs } = fixture("openai-text.json");
  checkSequence(theirs);
  const deltas = theirs.flatMap((e) => (e.type === "response.output_text.delta" ? [e.delta] : []));
  const ours = run([
    ...deltas.map((text): StreamPart => ({ type: "text-delta", text })),
    {
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 37, completionTokens: 11, cachedTokens: 0 },
    },
  ]);
  assert.equal(ours.length, theirs.length);
  theirs.forEach((event, i) => {
    const mine = ours[i] as unknown as Record<string, unknown>;
    assert.equal(mine.type, event.type, `event ${i}`);
    for (const [key, value] of Object.entries(event)) {
      assert.ok(key in mine, `event ${i} (${event.type}) lacks ${key}`);
      if (["output_index", "content_index", "delta", "text"].includes(key))
        assert.deepEqual(mine[key], value);
    }
    if ("response" in event) {
      const response = mine.response as Record<string, unknown>;
      // `store`, `user` and `service_tier` are not in the SDK's Response type; `usage` is left out until the
      // end (the spec's optional object, where the docs' example has null); the rest of OpenAI's fields are.
      for (const key of Object.keys(event.response).filter(
        (k) =>
          !["store", "user", "service_tier"].includes(k) && !(k === "usage" && event.response.usage === null),
      ))
        assert.ok(key in response, `${event.type}.response lacks ${key}`);
      assert.equal(response.status, event.response.status);
    }
    // The docs' example leaves out output_text's `logprobs`, which the spec requires (responses-spec.test.ts).
    if ("item" in event)
      assert.deepEqual(withoutLogprobs({ ...(mine.item as object), id: "x" }), { ...event.item, id: "x" });
  });
});

function withoutLogprobs(item: object): object {
  const content = (item as { content?: object[] }).content;
  if (!content) return item;
  return { ...item, content: content.map(({ logprobs: _, ...part }: { logprobs?: unknown }) => part) };
}
