import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { type ChunkReading, fromChunk } from "../../src/openai/from-upstream-chunk.js";
import type { FinishReason, StreamPart, Usage } from "../../src/provider/types.js";

// Client side, inward: recorded and hand-written upstream streams through the chunk parser.

// Runs from dist/test/openai/; the fixtures stay in the source tree.
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../test/openai/fixtures");

interface Fixture {
  /** "recorded: ..." (from a server we ran) or "hand-written ..." (a vendor we cannot run). */
  source: string;
  request?: { path: string; body: Record<string, unknown> };
  chunks: unknown[];
  /** Hand-written fixtures: the parts, finish reason and usage the chunks must give. */
  expected?: { model: string; parts: StreamPart[]; finishReason: FinishReason; usage: Usage | null };
  /** Recorded fixtures: the same request answered whole, which the streamed parts must add up to. */
  whole?: {
    text: string;
    toolCalls: { function: { name: string; arguments: string } }[];
    finishReason: string;
    usage: { prompt_tokens: number; completion_tokens: number };
  };
}

/** What UpstreamProvider keeps of a stream: the first model, every part, the last reason and usage. */
function readStream(chunks: unknown[]) {
  let model: string | undefined;
  let finishReason: FinishReason | undefined;
  let usage: Usage | undefined;
  const parts: StreamPart[] = [];
  for (const [i, chunk] of chunks.entries()) {
    const reading = fromChunk(chunk);
    assert.ok(reading.ok, `chunk ${i}: ${reading.ok || reading.problem}`);
    model ??= reading.model;
    finishReason = reading.finishReason ?? finishReason;
    usage = reading.usage ?? usage;
    parts.push(...reading.parts);
  }
  return { model, parts, finishReason, usage: usage ?? null };
}

const files = readdirSync(FIXTURES).filter((f) => f.endsWith(".json"));

test("fixtures: both kinds are there, each says where it came from", () => {
  const fixtures = files.map((f) => JSON.parse(readFileSync(path.join(FIXTURES, f), "utf8")) as Fixture);
  assert.ok(fixtures.filter((f) => f.source.startsWith("recorded: ")).length >= 6);
  assert.ok(fixtures.filter((f) => f.source.startsWith("hand-written ")).length >= 4);
  for (const f of fixtures) assert.ok(f.expected ?? f.whole, f.source);
});

for (const file of files) {
  test(`fixture ${file}`, () => {
    const fixture = JSON.parse(readFileSync(path.join(FIXTURES, file), "utf8")) as Fixture;
    const read = readStream(fixture.chunks);
    if (fixture.expected) {
      assert.deepEqual(read, fixture.expected);
      return;
    }
    const whole = fixture.whole;
    assert.ok(whole);
    const texts = read.parts.flatMap((p) => (p.type === "text-delta" ? [p] : []));
    assert.equal(texts.map((p) => p.text).join(""), whole.text, "the streamed text is the whole answer's");
    const calls: { name: string; arguments: string }[] = [];
    for (const p of read.parts) {
      if (p.type !== "tool-call-delta") continue;
      calls[p.index] ??= { name: p.name ?? "", arguments: "" };
      calls[p.index].arguments += p.argumentsDelta;
    }
    assert.deepEqual(
      calls,
      whole.toolCalls.map((c) => c.function),
    );
    assert.equal(read.finishReason, whole.finishReason);
    assert.equal(read.usage?.promptTokens, whole.usage.prompt_tokens);
    assert.equal(read.usage?.completionTokens, whole.usage.completion_tokens);
    assert.ok(read.model, "the chunks name the model");
    if (fixture.request?.body.logprobs) {
      assert.ok(texts.length > 0 && texts.every((p) => p.logprobs?.length));
      const tokens = texts.flatMap((p) => p.logprobs ?? []).map((l) => l.token);
      assert.equal(tokens.join(""), whole.text, "one logprob for every token of the text");
      for (const l of texts.flatMap((p) => p.logprobs ?? [])) {
        assert.deepEqual(l.bytes, [...Buffer.from(l.token)]);
        assert.equal(l.top.length, 2);
      }
    }
  });
}

const chunkOf = (choice: Record<string, unknown>) => ({ model: "m", choices: [{ index: 0, ...choice }] });

/** Chunks real servers send that must be read without a problem, and what they give. */
const LENIENT: [string, unknown, Omit<Extract<ChunkReading, { ok: true }>, "ok">][] = [
  ["an empty object (a keep-alive)", {}, { parts: [] }],
  ["null choices and usage", { choices: null, usage: null }, { parts: [] }],
  ["no delta at all", chunkOf({ finish_reason: null }), { model: "m", parts: [] }],
  [
    "unknown fields anywhere",
    {
      model: "m",
      timings: { n: 1 },
      choices: [{ delta: { content: "a", reasoning_content: "b" }, extra: 1 }],
    },
    { model: "m", parts: [{ type: "text-delta", text: "a" }] },
  ],
  [
    "a finish reason we have no word for",
    chunkOf({ delta: {}, finish_reason: "content_filter" }),
    { model: "m", parts: [], finishReason: "stop" },
  ],
  [
    "function_call, the old name",
    chunkOf({ finish_reason: "function_call" }),
    { model: "m", parts: [], finishReason: "tool_calls" },
  ],
  [
    "usage without prompt_tokens is no usage (estimated later)",
    { choices: [], usage: { completion_tokens: 3 } },
    { parts: [] },
  ],
  [
    "logprobs without bytes get the token's UTF-8",
    chunkOf({
      delta: { content: "é" },
      logprobs: { content: [{ token: "é", logprob: -1, top_logprobs: null }] },
    }),
    {
      model: "m",
      parts: [
        {
          type: "text-delta",
          text: "é",
          logprobs: [{ token: "é", bytes: [195, 169], logprob: -1, top: [] }],
        },
      ],
    },
  ],
  [
    "a text completion's legacy logprobs object",
    chunkOf({ text: "a", logprobs: { tokens: ["a"], token_logprobs: [-1] } }),
    { model: "m", parts: [{ type: "text-delta", text: "a" }] },
  ],
];

for (const [name, raw, expected] of LENIENT) {
  test(`lenient: ${name}`, () => assert.deepEqual(fromChunk(raw), { ok: true, ...expected }));
}

/** Chunks no OpenAI-compatible server should send: a problem naming the field, never a crash. */
const BROKEN: [string, unknown, RegExp][] = [
  ["a string", "hello", /\(the chunk: .*expected object/],
  ["an array", [1], /\(the chunk: /],
  ["choices an object", { choices: { 0: {} } }, /\(choices: .*expected array/],
  [
    "content a number",
    chunkOf({ delta: { content: 42 } }),
    /\(choices\[0\]\.delta\.content: .*expected string/,
  ],
  ["finish_reason a number", chunkOf({ finish_reason: 1 }), /\(choices\[0\]\.finish_reason: /],
  [
    "tool call arguments an object",
    chunkOf({ delta: { tool_calls: [{ index: 0, function: { arguments: { a: 1 } } }] } }),
    /\(choices\[0\]\.delta\.tool_calls\[0\]\.function\.arguments: /,
  ],
  [
    "a negative tool call index",
    chunkOf({ delta: { tool_calls: [{ index: -1 }] } }),
    /\(choices\[0\]\.delta\.tool_calls\[0\]\.index: /,
  ],
  [
    "usage counts as text",
    { choices: [], usage: { prompt_tokens: "12", completion_tokens: 3 } },
    /\(usage\.prompt_tokens: /,
  ],
  [
    "a logprob without its token",
    chunkOf({ delta: { content: "a" }, logprobs: { content: [{ logprob: -1 }] } }),
    /\(choices\[0\]\.logprobs\.content\[0\]\.token: /,
  ],
];

for (const [name, raw, problem] of BROKEN) {
  test(`broken: ${name}`, () => {
    const reading = fromChunk(raw);
    assert.equal(reading.ok, false);
    assert.ok(!reading.ok);
    assert.match(reading.problem, /^a chunk that is not an OpenAI chunk /);
    assert.match(reading.problem, problem);
  });
}
