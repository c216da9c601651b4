import assert from "node:assert/strict";
import { test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { OpenAIEmbeddings } from "@langchain/openai";
import { OpenAIEmbedding } from "@llamaindex/openai";
import { embed, embedMany } from "ai";
import { buildServer } from "../../src/api/server.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import { EMBEDDING_MODEL_ID, embeddingServerFixture } from "../helpers/server-process.js";

// The client libraries people embed with, against the real server: each must get the vectors the
// server computes (the official SDK asks for base64 and decodes it; the AI SDK asks for floats).
const e2e = embeddingServerFixture();

const texts = ["hello world", "你好", "edge inference on a CPU"];

/** The server's own answer, as floats over plain HTTP. */
async function reference(input: string[]): Promise<number[][]> {
  const res = await fetch(`${e2e.server.url}/v1/embeddings`, {
    method: "POST",
    body: JSON.stringify({ input, model: EMBEDDING_MODEL_ID, encoding_format: "float" }),
  });
  const body = (await res.json()) as { data: { embedding: number[] }[] };
  return body.data.map((d) => d.embedding);
}

/** Equal as float32 (base64 carries float32; JSON carries the same float32 values printed as doubles). */
function assertSameVectors(got: readonly (readonly number[])[], want: number[][], who: string) {
  assert.equal(got.length, want.length, who);
  for (const [i, v] of got.entries())
    assert.deepEqual(Array.from(v, Math.fround), want[i].map(Math.fround), `${who}: vector ${i}`);
}

test("the official openai SDK: embeddings.create with its default (base64) and with floats", async () => {
  const want = await reference(texts);
  const base64 = await e2e.client.embeddings.create({ model: EMBEDDING_MODEL_ID, input: texts });
  assertSameVectors(
    base64.data.map((d) => d.embedding),
    want,
    "openai (base64)",
  );
  assert.ok((base64.usage?.prompt_tokens ?? 0) >= texts.length);
  const float = await e2e.client.embeddings.create({
    model: EMBEDDING_MODEL_ID,
    input: texts[0],
    encoding_format: "float",
  });
  assertSameVectors([float.data[0].embedding], [want[0]], "openai (float)");
});

test("the AI SDK: embed and embedMany through @ai-sdk/openai and @ai-sdk/openai-compatible", async () => {
  const want = await reference(texts);
  const openai = createOpenAI({ baseURL: `${e2e.server.url}/v1`, apiKey: "unused" });
  const one = await embed({ model: openai.embedding(EMBEDDING_MODEL_ID), value: texts[0], maxRetries: 0 });
  assertSameVectors([one.embedding], [want[0]], "ai embed");
  assert.ok((one.usage?.tokens ?? 0) > 0);
  const compatible = createOpenAICompatible({ name: "edgellm", baseURL: `${e2e.server.url}/v1` });
  const many = await embedMany({
    model: compatible.textEmbeddingModel(EMBEDDING_MODEL_ID),
    values: texts,
    maxRetries: 0,
  });
  assertSameVectors(many.embeddings, want, "ai embedMany");
});

test("LangChain OpenAIEmbeddings: embedQuery and embedDocuments", async () => {
  const want = await reference(texts);
  const embeddings = new OpenAIEmbeddings({
    model: EMBEDDING_MODEL_ID,
    apiKey: "unused",
    maxRetries: 0,
    configuration: { baseURL: `${e2e.server.url}/v1` },
  });
  assertSameVectors([await embeddings.embedQuery(texts[0])], [want[0]], "langchain query");
  assertSameVectors(await embeddings.embedDocuments(texts), want, "langchain documents");
});

test("LlamaIndex OpenAIEmbedding: getTextEmbedding and getTextEmbeddings", async () => {
  const want = await reference(texts);
  const embedding = new OpenAIEmbedding({
    model: EMBEDDING_MODEL_ID,
    apiKey: "unused",
    baseURL: `${e2e.server.url}/v1`,
    maxRetries: 0,
  });
  assertSameVectors([await embedding.getTextEmbedding(texts[0])], [want[0]], "llamaindex one");
  assertSameVectors(await embedding.getTextEmbeddings(texts), want, "llamaindex many");
});

test("LangChain on a server without an embedding model: a 400 saying how to configure one, not MODEL_NOT_FOUND", async () => {
  const scheduler = new Scheduler({});
  scheduler.attach(new FakeEngine());
  const app = await buildServer({ provider: scheduler });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  try {
    const embeddings = new OpenAIEmbeddings({
      model: "text-embedding-3-small",
      apiKey: "unused",
      maxRetries: 0,
      configuration: { baseURL: `${url}/v1` },
    });
    await assert.rejects(
      embeddings.embedQuery("hi"),
      (error: Error & { status?: number; lc_error_code?: string }) => {
        assert.equal(error.status, 400);
        assert.notEqual(error.lc_error_code, "MODEL_NOT_FOUND");
        assert.match(error.message, /--embedding-model/);
        return true;
      },
    );
  } finally {
    await app.close();
  }
});
