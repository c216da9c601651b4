import assert from "node:assert/strict";
import { test } from "node:test";
import type OpenAI from "openai";
import { refusal } from "../helpers/refusal.js";
import { serverFixture } from "../helpers/server-process.js";

// Compaction through the official SDK on the real server (the tiny model writes the summaries: noise, so
// what is asserted is the machinery): /v1/responses/compact, its item sent back as input, and
// context_management compacting on its own past a threshold.

const e2e = serverFixture(() => ["--ctx-size", "4096"]);

/** A conversation of `turns` question-answer pairs, each about 120 tokens (long answers: what compaction saves). */
function history(turns: number): OpenAI.Responses.ResponseInputItem[] {
  const items: OpenAI.Responses.ResponseInputItem[] = [];
  for (let i = 0; i < turns; i++)
    items.push(
      {
        role: "user",
        content: `Question ${i}: tell me about the river, the market and the engine number ${i}.`,
      },
      {
        role: "assistant",
        content: `Answer ${i}: ${"the river runs by the market, and the engine is in the shed. ".repeat(6)}`,
      },
    );
  return items;
}

test("responses.compact gives the user messages and one compaction item, which stands for them next time", async () => {
  const input = history(12);
  const compacted = await e2e.client.responses.compact({ model: "local", input });
  assert.equal(compacted.object, "response.compaction");
  const kinds = compacted.output.map((i) => i.type);
  assert.equal(kinds.at(-1), "compaction");
  assert.equal(kinds.filter((k) => k === "message").length, 12, "every user message is kept");
  assert.ok((compacted.usage?.output_tokens ?? 0) > 0);

  const full = await e2e.client.responses.create({
    model: "local",
    input: [...input, { role: "user", content: "And now?" }],
    max_output_tokens: 4,
  });
  const next = await e2e.client.responses.create({
    model: "local",
    input: [
      ...(compacted.output as OpenAI.Responses.ResponseInputItem[]),
      { role: "user", content: "And now?" },
    ],
    max_output_tokens: 4,
  });
  assert.ok(next.status === "completed" || next.status === "incomplete");
  assert.ok(
    (next.usage?.input_tokens ?? 0) < (full.usage?.input_tokens ?? 0),
    `${next.usage?.input_tokens} against ${full.usage?.input_tokens} without compaction`,
  );
  // A compaction item this server did not make is refused by name.
  const forged = await refusal(
    e2e.client.responses.create({
      model: "local",
      input: [
        { type: "compaction", encrypted_content: "gAAAA-not-ours" } as never,
        { role: "user", content: "hi" },
      ],
    }),
  );
  assert.equal(forged.status, 400);
  assert.equal(forged.param, "input[0].encrypted_content");
});

test("context_management compacts the earlier turns past the threshold, first in the output and in a header", async () => {
  const { data, response } = await e2e.client.responses
    .create({
      model: "local",
      input: [...history(25), { role: "user", content: "Summing up?" }],
      context_management: [{ type: "compaction", compact_threshold: 1000 }],
      max_output_tokens: 4,
    } as never)
    .withResponse();
  const result = data as OpenAI.Responses.Response;
  assert.equal(result.output[0]?.type, "compaction");
  assert.match(response.headers.get("x-edgellm-compacted") ?? "", /^turns=25, tokens=\d+$/);
  assert.ok(
    (result.usage?.input_tokens ?? 0) < 1000,
    `${result.usage?.input_tokens} input tokens after compaction`,
  );
  // Below the threshold nothing happens.
  const small = await e2e.client.responses.create({
    model: "local",
    input: "hi",
    context_management: [{ type: "compaction", compact_threshold: 1000 }],
    max_output_tokens: 4,
  } as never);
  assert.notEqual((small as OpenAI.Responses.Response).output[0]?.type, "compaction");
});
