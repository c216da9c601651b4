import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import OpenAI from "openai";
import { refusal } from "../helpers/refusal.js";
import { startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// OpenAI's Conversations API through the official SDK on the real server: create with items, read, update,
// items in order with cursors, delete; everything survives a restart (the state file), stored responses
// too; another key's conversations are unknown to a key.

const KEYS = "conv-key-one-0123456789,conv-key-two-0123456789";

async function serve(stateFile: string) {
  const server = await startServerProcess(["--model", await tinyModelPath(), "--threads", "1"], {
    EDGELLM_STATE_FILE: stateFile,
    EDGELLM_API_KEY: KEYS,
  });
  const client = (key: string) => new OpenAI({ baseURL: `${server.url}/v1`, apiKey: key, maxRetries: 0 });
  return { server, one: client("conv-key-one-0123456789"), two: client("conv-key-two-0123456789") };
}

test("conversations: create, read, update, items in order with cursors, delete; kept across a restart; a key's own", async () => {
  const stateFile = path.join(mkdtempSync(path.join(tmpdir(), "edgellm-conv-")), "state.sqlite");
  let { server, one, two } = await serve(stateFile);
  let conversationId: string;
  let responseId: string;
  try {
    const conversation = await one.conversations.create({
      metadata: { topic: "退货" },
      items: [
        { type: "message", role: "user", content: "我想退货" },
        { type: "message", role: "assistant", content: "好的，请提供订单号。" },
      ],
    });
    conversationId = conversation.id;
    assert.match(conversation.id, /^conv_/);
    assert.equal(conversation.object, "conversation");
    assert.deepEqual(conversation.metadata, { topic: "退货" });
    const updated = await one.conversations.update(conversation.id, { metadata: { topic: "refund" } });
    assert.deepEqual(updated.metadata, { topic: "refund" });

    const added = await one.conversations.items.create(conversation.id, {
      items: [
        { type: "message", role: "user", content: [{ type: "input_text", text: "订单号 123" }] },
        { type: "function_call", call_id: "call_1", name: "lookup", arguments: '{"order":"123"}' },
        { type: "function_call_output", call_id: "call_1", output: '{"status":"shipped"}' },
      ],
    });
    assert.equal(added.data.length, 3);
    // Newest first by default; ascending with cursors pages through them all in order.
    const newest = await one.conversations.items.list(conversation.id, { limit: 2 });
    assert.equal(newest.data[0]?.type, "function_call_output");
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await one.conversations.items.list(conversation.id, { order: "asc", limit: 2, after });
      for (const item of page.data) seen.push(item.type === "message" ? `${item.role}` : item.type);
      if (!page.has_more) break;
      after = page.data.at(-1)?.id;
    }
    assert.deepEqual(seen, ["user", "assistant", "user", "function_call", "function_call_output"]);
    const first = (await one.conversations.items.list(conversation.id, { order: "asc", limit: 1 })).data[0];
    assert.ok(first?.type === "message");
    const item = await one.conversations.items.retrieve(first.id, { conversation_id: conversation.id });
    assert.deepEqual(item, first);
    assert.deepEqual((first as { content: unknown }).content, [{ type: "input_text", text: "我想退货" }]);

    // Another key: unknown, whatever it tries.
    assert.equal((await refusal(two.conversations.retrieve(conversation.id))).status, 404);
    assert.equal((await refusal(two.conversations.items.list(conversation.id))).status, 404);
    assert.equal((await refusal(two.conversations.delete(conversation.id))).status, 404);
    const full = await refusal(
      one.conversations.items.create(conversation.id, {
        items: Array.from({ length: 21 }, () => ({
          type: "message" as const,
          role: "user" as const,
          content: "x",
        })),
      }),
    );
    assert.equal(full.status, 400);
    const bad = await refusal(
      one.conversations.create({ items: [{ type: "reasoning", summary: [] } as never] }),
    );
    assert.equal(bad.status, 400);

    const response = await one.responses.create({ model: "local", input: "hi", max_output_tokens: 4 });
    responseId = response.id;
  } finally {
    await server.stop();
  }

  ({ server, one, two } = await serve(stateFile));
  try {
    const again = await one.conversations.retrieve(conversationId);
    assert.deepEqual(again.metadata, { topic: "refund" });
    assert.equal((await one.conversations.items.list(conversationId, { limit: 100 })).data.length, 5);
    // A stored response and its chain survive the restart too.
    assert.equal((await one.responses.retrieve(responseId)).id, responseId);
    const next = await one.responses.create({
      model: "local",
      input: "again",
      previous_response_id: responseId,
      max_output_tokens: 4,
    });
    assert.equal(next.previous_response_id, responseId);
    assert.equal((await refusal(two.responses.retrieve(responseId))).status, 404);

    const deleted = await one.conversations.delete(conversationId);
    assert.deepEqual(deleted, { id: conversationId, object: "conversation.deleted", deleted: true });
    const gone = await refusal(one.conversations.retrieve(conversationId));
    assert.equal(gone.status, 404);
    assert.equal(gone.code, "conversation_not_found");
  } finally {
    await server.stop();
  }
});

test("responses in a conversation: its items are the history, input and answer join it; truncation auto keeps 100 turns going", async () => {
  const server = await startServerProcess([
    "--model",
    await tinyModelPath(),
    "--threads",
    "1",
    "--parallel",
    "1",
    "--ctx-size",
    "512",
  ]);
  try {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const conversation = await client.conversations.create({
      items: [{ type: "message", role: "system", content: "You are brief." }],
    });
    const first = await client.responses.create({
      model: "local",
      input: "hello",
      conversation: conversation.id,
      max_output_tokens: 4,
    });
    assert.deepEqual(first.conversation, { id: conversation.id });
    const second = await client.responses.create({
      model: "local",
      input: [{ role: "user", content: "and again" }],
      conversation: { id: conversation.id },
      max_output_tokens: 4,
    });
    assert.ok(
      (second.usage?.input_tokens ?? 0) > (first.usage?.input_tokens ?? 0),
      "the first turn is history",
    );
    const items = (await client.conversations.items.list(conversation.id, { order: "asc", limit: 100 })).data;
    assert.deepEqual(
      items.map((i) => (i.type === "message" ? i.role : i.type)),
      ["system", "user", "assistant", "user", "assistant"],
    );
    assert.equal(items[2]?.id, first.output[0]?.id, "the answer's item is kept under its own id");

    const both = await refusal(
      client.responses.create({
        model: "local",
        input: "x",
        conversation: conversation.id,
        previous_response_id: first.id,
      }),
    );
    assert.equal(both.status, 400);
    assert.equal(
      (await refusal(client.responses.create({ model: "local", input: "x", conversation: "conv_nope" })))
        .status,
      404,
    );

    // 100 turns in one conversation on a 512-token context: truncation auto drops the oldest turns, never a 400.
    let truncated = 0;
    for (let turn = 0; turn < 100; turn++) {
      const { data, response } = await client.responses
        .create({
          model: "local",
          input: `Question ${turn}: what is ${turn} times two?`,
          conversation: conversation.id,
          truncation: "auto",
          max_output_tokens: 8,
        })
        .withResponse();
      assert.equal(data.truncation, "auto");
      if (response.headers.get("x-edgellm-truncated")) truncated++;
    }
    assert.ok(truncated > 50, `${truncated} truncated turns`);
    // Without truncation the same conversation is now too long: a clear 400.
    const refused = await refusal(
      client.responses.create({
        model: "local",
        input: "one more",
        conversation: conversation.id,
        max_output_tokens: 8,
      }),
    );
    assert.equal(refused.code, "context_length_exceeded");
  } finally {
    await server.stop();
  }
});
