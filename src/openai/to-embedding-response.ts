import type { CreateEmbeddingResponse } from "openai/resources/embeddings";
import type { EmbeddingResult } from "../provider/types.js";

/**
 * A vector as OpenAI's `encoding_format: "base64"` sends it: the float32 values' bytes, little-endian, in
 * base64 (the official SDKs ask for this by default and decode it so).
 */
export function float32ToBase64(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i], i * 4);
  return bytes.toString("base64");
}

/** The inverse of float32ToBase64 (tests, and clients written against this server). */
export function base64ToFloat32(text: string): Float32Array {
  const bytes = Buffer.from(text, "base64");
  const vector = new Float32Array(bytes.length / 4);
  for (let i = 0; i < vector.length; i++) vector[i] = bytes.readFloatLE(i * 4);
  return vector;
}

/** OpenAI's `create embedding` response for our result. */
export function toEmbeddingResponse(
  result: EmbeddingResult,
  model: string,
  encoding: "float" | "base64",
): CreateEmbeddingResponse {
  return {
    object: "list",
    data: result.vectors.map((vector, index) => ({
      object: "embedding",
      index,
      // The SDK's type says number[]; with base64 asked for, OpenAI sends a string in its place.
      embedding: (encoding === "base64" ? float32ToBase64(vector) : Array.from(vector)) as number[],
    })),
    model,
    usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
  };
}
