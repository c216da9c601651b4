import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText } from "ai";
import OpenAI, { toFile } from "openai";
import {
  EMBEDDING_CONTEXT,
  EMBEDDING_MODEL_ID,
  embeddingModelPath,
  startServerProcess,
} from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// A knowledge base with an embedding model (the tiny synthetic model as both models: its vectors are noise,
// so what is asserted is the machinery, never the ranking's quality): chunks fit the embedding input, hybrid
// and vector-only search answer, a store remembers its embedding model and a server with another refuses it.
// Then the AI SDK's own file_search tool against the Responses API.

const DOC = `# 退货政策

## 退货期限
商品签收后七天内可以无理由退货，商品需保持完好。

## Shipping
Orders ship within two business days. ${"Tracking numbers arrive by e-mail after dispatch. ".repeat(40)}
`;

async function completed(client: OpenAI, name: string, fileIds: string[]) {
  const store = await client.vectorStores.create({ name, file_ids: fileIds });
  for (let i = 0; i < 600; i++) {
    if ((await client.vectorStores.retrieve(store.id)).status === "completed") return store;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail("the vector store never completed");
}

async function serve(stateFile: string, embedding: boolean) {
  const model = await tinyModelPath();
  const link = await embeddingModelPath();
  const server = await startServerProcess(
    [
      "--model",
      model,
      ...(embedding ? ["--embedding-model", link] : []),
      "--threads",
      "1",
      "--parallel",
      "2",
      "--ctx-size",
      String(EMBEDDING_CONTEXT),
    ],
    { EDGELLM_STATE_FILE: stateFile },
  );
  return { server, client: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 }) };
}

test("with an embedding model: chunks fit its input, hybrid and vector search, and the model is the store's", async () => {
  const stateFile = path.join(mkdtempSync(path.join(tmpdir(), "edgellm-kb-vec-")), "state.sqlite");
  let { server, client } = await serve(stateFile, true);
  let storeId: string;
  try {
    const file = await client.files.create({
      file: await toFile(Buffer.from(DOC), "policy.md"),
      purpose: "assistants",
    });
    const store = await completed(client, "policy", [file.id]);
    storeId = store.id;
    const record = await client.vectorStores.files.retrieve(file.id, { vector_store_id: store.id });
    assert.equal(record.status, "completed", JSON.stringify(record.last_error));
    // Auto's 300-token chunks would not fit a 256-token embedding input: they were made to fit.
    const sizes = record.chunking_strategy?.type === "static" ? record.chunking_strategy.static : undefined;
    assert.ok(sizes && sizes.max_chunk_size_tokens < EMBEDDING_CONTEXT, JSON.stringify(sizes));
    const hybrid = await client.vectorStores.search(store.id, { query: "退货期限是几天?" });
    assert.ok(hybrid.data.length > 0);
    assert.match(hybrid.data.map((r) => r.content[0]?.text).join(" "), /七天/);
    const vectorOnly = await client.vectorStores.search(store.id, {
      query: "退货期限是几天?",
      // OpenAI's hybrid_search weights (newer than this SDK's types).
      ranking_options: { hybrid_search: { embedding_weight: 1, text_weight: 0 } } as never,
    });
    assert.ok(vectorOnly.data.length > 0, "every chunk has a vector");
    for (const r of vectorOnly.data) assert.ok(r.score >= 0 && r.score <= 1);
  } finally {
    await server.stop();
  }

  ({ server, client } = await serve(stateFile, false));
  try {
    const refused = await client.vectorStores.search(storeId, { query: "退货" }).then(
      () => undefined,
      (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
    );
    assert.equal(refused?.status, 400);
    assert.equal((refused?.error as { code?: string } | undefined)?.code, "embedding_model_mismatch");
    assert.match(refused?.message ?? "", new RegExp(EMBEDDING_MODEL_ID));
  } finally {
    await server.stop();
  }
});

test("the AI SDK's file_search tool: the search runs and its sources come back", async () => {
  const stateFile = path.join(mkdtempSync(path.join(tmpdir(), "edgellm-kb-ai-")), "state.sqlite");
  const { server, client } = await serve(stateFile, false);
  try {
    const file = await client.files.create({
      file: await toFile(Buffer.from(DOC), "policy.md"),
      purpose: "assistants",
    });
    const store = await completed(client, "policy", [file.id]);
    const edgellm = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused" });
    const result = await generateText({
      model: edgellm.responses("local"),
      prompt: "商品签收后几天内可以退货?",
      maxOutputTokens: 8,
      // The provider's tool type names another zod than `ai`'s: the shapes are the same.
      tools: {
        file_search: edgellm.tools.fileSearch({ vectorStoreIds: [store.id], maxNumResults: 2 }) as never,
      },
    });
    const call = result.toolCalls.find((c) => c.toolName === "file_search");
    assert.ok(call, JSON.stringify(result.content));
    const output = result.toolResults.find((r) => r.toolName === "file_search");
    assert.ok(output, "the file_search call has its result");
    const sources = result.sources.filter((s) => s.sourceType === "document");
    assert.ok(sources.length > 0, JSON.stringify(result.content));
  } finally {
    await server.stop();
  }
});
