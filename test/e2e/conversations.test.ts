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
