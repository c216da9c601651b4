import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { base64ToFloat32 } from "../../src/openai/to-embedding-response.js";
import {
  EMBEDDING_CONTEXT,
  EMBEDDING_MODEL_ID,
  embeddingServerFixture,
  startServerProcess,
} from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// POST /v1/embeddings through the real server, on whichever engine the run uses. The synthetic model's
// vectors mean nothing; their shape, order, length and stability do.
const e2e = embeddingServerFixture();

interface Answer {
  data: { object: string; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
  object: string;
}

async function embed(
  body: object,
): Promise<{ status: number; json: Answer & { error?: Record<string, string> } }> {
  const res = await fetch(`${e2e.server.url}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Answer & { error?: Record<string, string> } };
}

async function vectors(input: unknown): Promise<number[][]> {
  const { status, json } = await embed({ input, model: EMBEDDING_MODEL_ID });
  assert.equal(status, 200, JSON.stringify(json));
  return json.data.map((d) => d.embedding as number[]);
}

const norm = (v: number[]) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));

function assertClose(a: number[], b: number[], what: string) {
  assert.equal(a.length, b.length, what);
  const worst = Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  assert.ok(worst < 1e-4, `${what}: differs by ${worst}`);
}

test("a list of texts gives one unit-length vector each, in order, with OpenAI's shape and usage", async () => {
  const texts = ["hello world", "你好，世界", "a", "The quick brown fox jumps over the lazy dog."];
  const { status, json } = await embed({ input: texts, model: EMBEDDING_MODEL_ID });
  assert.equal(status, 200, JSON.stringify(json));
  assert.equal(json.object, "list");
  assert.equal(json.model, EMBEDDING_MODEL_ID);
  assert.deepEqual(
    json.data.map((d) => [d.object, d.index]),
    texts.map((_, i) => ["embedding", i]),
  );
  const models = await e2e.client.models.list();
  const listed = models.data.find((m) => m.id === EMBEDDING_MODEL_ID) as unknown as {
    meta: { embedding_dimensions: number };
  };
  assert.ok(listed, "/v1/models lists the embedding model");
  for (const d of json.data) {
    const v = d.embedding as number[];
    assert.equal(v.length, listed.meta.embedding_dimensions);
    assert.ok(Math.abs(norm(v) - 1) < 1e-4, `norm ${norm(v)}`);
  }
  assert.ok(json.usage.prompt_tokens >= texts.length);
  assert.equal(json.usage.total_tokens, json.usage.prompt_tokens);
  // Different texts, different vectors: the engine did not answer one vector for all.
  assert.notDeepEqual(json.data[0].embedding, json.data[1].embedding);
});

test("a text's vector is the same alone, in a batch at any position, and on every call", async () => {
  const texts = ["hello world", "hi", "a b c d e f g", "hello world", "二"];
  const batch = await vectors(texts);
  const reversed = (await vectors([...texts].reverse())).reverse();
  for (const [i, text] of texts.entries()) {
    const [alone] = await vectors(text);
    assertClose(batch[i], alone, `"${text}" in a batch and alone`);
    assertClose(reversed[i], alone, `"${text}" at another position`);
  }
  assertClose(batch[0], batch[3], "the same text twice in one batch");
  const again = await vectors(texts);
  for (const [i, v] of again.entries()) assert.deepEqual(v, batch[i], "identical across calls");
});

test("base64 is the same vectors as little-endian float32, and token lists embed like their text", async () => {
  const float = await vectors(["hello world", "second"]);
  const { json } = await embed({ input: ["hello world", "second"], encoding_format: "base64" });
  const decoded = json.data.map((d) => Array.from(base64ToFloat32(d.embedding as string)));
  assert.deepEqual(
    decoded,
    float.map((v) => v.map(Math.fround)),
  );

  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const vocabulary = await llama.loadModel({ modelPath: await tinyModelPath(), vocabOnly: true });
  const tokens = Array.from(vocabulary.tokenize("hello world"));
  const other = Array.from(vocabulary.tokenize("second"));
  await vocabulary.dispose();
  const [one] = await vectors(tokens);
  assertClose(one, float[0], "one token list");
  const [a, b] = await vectors([tokens, other]);
  assertClose(a, float[0], "a list of token lists [0]");
  assertClose(b, float[1], "a list of token lists [1]");
});

test("refusals: empty input, too long, dimensions, a token id outside the vocabulary, another model", async () => {
  const refused = async (body: object, status: number, code: string, param: string | null) => {
    const { status: got, json } = await embed(body);
    assert.equal(got, status, JSON.stringify(json));
    assert.equal(json.error?.code, code, JSON.stringify(json));
    assert.equal(json.error?.param, param, JSON.stringify(json));
    return json.error?.message ?? "";
  };
  await refused({ input: "" }, 400, "invalid_value", "input");
  await refused({ input: [] }, 400, "invalid_value", "input");
  await refused({ input: ["ok", ""] }, 400, "invalid_value", "input[1]");

  const long = "hello ".repeat(EMBEDDING_CONTEXT * 2);
  const message = await refused({ input: ["ok", long] }, 400, "context_length_exceeded", "input");
  assert.match(message, new RegExp(`maximum context length is ${EMBEDDING_CONTEXT - 1} tokens`));
  assert.match(message, /However, you requested \d+ tokens in 'input\[1\]'/);
  // Refused by its size alone, before tokenizing.
  const huge = await refused({ input: "x".repeat(900_000) }, 400, "context_length_exceeded", "input");
  assert.match(huge, /at least \d+ tokens/);
  const tokens = Array.from({ length: EMBEDDING_CONTEXT }, () => 14990);
  await refused({ input: tokens }, 400, "context_length_exceeded", "input");

  const dims = (await vectors("x"))[0].length;
  await refused({ input: "x", dimensions: dims + 1 }, 400, "invalid_value", "dimensions");
  assert.equal((await embed({ input: "x", dimensions: dims })).status, 200);
  const bad = await refused({ input: [[1, 2], [10_000_000]] }, 400, "invalid_value", "input");
  assert.match(bad, /input\[1\]'.*token id 10000000/);

  // 300 000 tokens a request at most (OpenAI's limit), refused before any input is evaluated.
  const many = Array.from({ length: 1300 }, (_, i) => `${i}${" hello".repeat(240)}`);
  const total = await refused({ input: many }, 400, "invalid_value", "input");
  assert.match(total, /at most 300000 tokens/);

  await refused({ input: "x", model: "text-embedding-3-small" }, 404, "model_not_found", "model");
  // The chat model is not the embedding model, and the embedding model does not chat.
  const chat = (await e2e.client.models.list()).data.find((m) => m.id !== EMBEDDING_MODEL_ID);
  await refused({ input: "x", model: chat?.id }, 404, "model_not_found", "model");
});

test("the server still chats, and /metrics counts embedded inputs and tokens", async () => {
  await vectors(["one", "two"]);
  const answer = await e2e.client.chat.completions.create({
    model: "local",
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 4,
  });
  assert.ok(answer.choices[0].message);
  const metrics = await (await fetch(`${e2e.server.url}/metrics`)).text();
  const inputs = Number(/^edgellm_embedding_inputs_total (\d+)/m.exec(metrics)?.[1]);
  const tokens = Number(/^edgellm_embedding_tokens_total (\d+)/m.exec(metrics)?.[1]);
  assert.ok(inputs >= 2, metrics);
  assert.ok(tokens >= inputs);
});

test("llama-server engine: a killed embedding child gives 503 engine_restarting, then is restarted", async (t) => {
  const health = (await (await fetch(`${e2e.server.url}/health`)).json()) as { engine?: string };
  if (health.engine !== "llama-server") return t.skip("the in-process engine has no child");
  const ps = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(e2e.server.process.pid)], {
    encoding: "utf8",
  });
  const line = ps.split("\n").find((l) => l.includes("--embeddings"));
  assert.ok(line, ps);
  const before = await vectors("restart me");
  process.kill(Number(line.trim().split(/\s+/)[0]), "SIGKILL");
  const deadline = Date.now() + 60_000;
  const seen: number[] = [];
  for (;;) {
    const { status, json } = await embed({ input: "restart me" });
    seen.push(status);
    if (status === 200) {
      assertClose(json.data[0].embedding as number[], before[0], "the same vector after the restart");
      break;
    }
    assert.equal(status, 503, JSON.stringify(json));
    assert.equal(json.error?.code, "engine_restarting");
    assert.ok(Date.now() < deadline, `never came back: ${seen.join(",")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

test("an embedding model that cannot be loaded stops the server, saying it was the embedding model", async () => {
  const server = await startServerProcess(
    ["--model", await tinyModelPath(), "--embedding-model", "./no-such-embedding.gguf", "--threads", "1"],
    {},
    { ready: false },
  );
  const { code } = await server.exited;
  assert.equal(code, 1);
  assert.match(server.output(), /the embedding model: .*no-such-embedding\.gguf/);
});
