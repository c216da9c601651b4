import assert from "node:assert/strict";
import { test } from "node:test";
import { validate } from "../../src/api/validation.js";
import {
  checkDimensions,
  embeddingRequestSchema,
  fromEmbeddingRequest,
} from "../../src/openai/from-embedding-request.js";
import { MAX_EMBEDDING_INPUTS } from "../../src/openai/limits.js";
import {
  base64ToFloat32,
  float32ToBase64,
  toEmbeddingResponse,
} from "../../src/openai/to-embedding-response.js";
import { InvalidRequestError } from "../../src/provider/errors.js";

// The /v1/embeddings codec: request shapes in, OpenAI's response out, without a server.

const parse = (body: unknown) => fromEmbeddingRequest(validate(embeddingRequestSchema(body), body));

test("every input shape OpenAI accepts becomes a list of inputs", () => {
  assert.deepEqual(parse({ input: "hi" }).inputs, ["hi"]);
  assert.deepEqual(parse({ input: ["a", "b"] }).inputs, ["a", "b"]);
  assert.deepEqual(parse({ input: [1, 2, 3] }).inputs, [[1, 2, 3]]);
  assert.deepEqual(parse({ input: [[1, 2], [3]] }).inputs, [[1, 2], [3]]);
  const parsed = parse({ input: "hi", model: "m", encoding_format: "base64", dimensions: 64 });
  assert.deepEqual(parsed, { model: "m", inputs: ["hi"], encoding: "base64", dimensions: 64 });
  assert.equal(parse({ input: "hi" }).encoding, "float");
});

test("empty, malformed and oversized inputs are refused by name", () => {
  const refused = (body: unknown, param: string, code: string) =>
    assert.throws(
      () => parse(body),
      (error: unknown) =>
        error instanceof InvalidRequestError && error.param === param && error.code === code,
      JSON.stringify(body).slice(0, 80),
    );
  refused({}, "input", "missing_required_parameter");
  refused({ input: "" }, "input", "invalid_value");
  refused({ input: [] }, "input", "invalid_value");
  refused({ input: ["a", ""] }, "input[1]", "invalid_value");
  refused({ input: [[1], []] }, "input[1]", "invalid_value");
  refused({ input: [1.5] }, "input[0]", "invalid_type");
  refused({ input: [-1] }, "input[0]", "invalid_value");
  refused({ input: 3 }, "input", "invalid_type");
  refused({ input: [1, "a"] }, "input[1]", "invalid_type");
  refused({ input: ["a", 1] }, "input[1]", "invalid_type");
  refused({ input: Array(MAX_EMBEDDING_INPUTS + 1).fill("a") }, "input", "invalid_value");
  refused({ input: "a", encoding_format: "int8" }, "encoding_format", "invalid_value");
  refused({ input: "a", dimensions: 0 }, "dimensions", "invalid_value");
});

test("dimensions is accepted only as the model's own size", () => {
  checkDimensions(undefined, 64);
  checkDimensions(64, 64);
  assert.throws(
    () => checkDimensions(32, 64),
    (error: unknown) =>
      error instanceof InvalidRequestError &&
      error.param === "dimensions" &&
      error.code === "invalid_value" &&
      /64 dimensions/.test(error.message),
  );
});

test("base64 is the float32 values' little-endian bytes, as OpenAI sends them", () => {
  const vector = new Float32Array([1, -0.5, 0.1, 3.4028234663852886e38]);
  const text = float32ToBase64(vector);
  // Computed independently: the same floats through a DataView, little-endian.
  const view = new DataView(new ArrayBuffer(16));
  for (const [i, x] of vector.entries()) view.setFloat32(i * 4, x, true);
  assert.equal(text, Buffer.from(view.buffer).toString("base64"));
  assert.equal(text.slice(0, 8), "AACAPwAA", "1.0f is 00 00 80 3f");
  assert.deepEqual(base64ToFloat32(text), vector);
});

test("the response is OpenAI's list of embeddings, in input order, with usage", () => {
  const result = { vectors: [new Float32Array([0.6, 0.8]), new Float32Array([1, 0])], promptTokens: 7 };
  const float = toEmbeddingResponse(result, "emb", "float");
  assert.deepEqual(float, {
    object: "list",
    data: [
      { object: "embedding", index: 0, embedding: [Math.fround(0.6), Math.fround(0.8)] },
      { object: "embedding", index: 1, embedding: [1, 0] },
    ],
    model: "emb",
    usage: { prompt_tokens: 7, total_tokens: 7 },
  });
  const base64 = toEmbeddingResponse(result, "emb", "base64");
  assert.deepEqual(
    base64.data.map((d) => Array.from(base64ToFloat32(d.embedding as unknown as string))),
    float.data.map((d) => d.embedding),
  );
});
