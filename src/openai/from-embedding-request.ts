import { z } from "zod";
import { InvalidRequestError } from "../provider/errors.js";
import type { EmbeddingInput } from "../provider/types.js";
import { MAX_CONTENT_BYTES, MAX_EMBEDDING_INPUTS } from "./limits.js";

/**
 * The body of `POST /v1/embeddings` (OpenAI's shape): `input` is a string, a list of strings, one list of
 * token ids, or a list of such lists. OpenAI refuses empty input, and so do we, by name.
 */

const EMPTY = "must not be empty";

const text = z
  .string()
  .min(1, EMPTY)
  .refine(
    (s) =>
      s.length <= MAX_CONTENT_BYTES &&
      (s.length * 3 <= MAX_CONTENT_BYTES || Buffer.byteLength(s) <= MAX_CONTENT_BYTES),
    `must be at most ${MAX_CONTENT_BYTES} bytes of UTF-8 text`,
  );
// The upper bound of a token id is the model's vocabulary, checked by the engine.
const tokens = z.array(z.number().int().min(0)).min(1, EMPTY);
const list = <T extends z.ZodType>(item: T) => z.array(item).min(1, EMPTY).max(MAX_EMBEDDING_INPUTS);

const fields = {
  model: z.string().optional(),
  encoding_format: z.enum(["float", "base64"]).optional(),
  dimensions: z.number().int().min(1).optional(),
  user: z.string().optional(),
};

const inputSchema = z.union([text, list(text), tokens, list(tokens)]);

/**
 * The body's schema, with `input`'s branch picked by its shape (a list of numbers is token ids, a list of
 * lists token lists, any other list texts), so that a problem is reported against what the client meant:
 * `[1.5]` is a bad token id, not "expected a string".
 */
export function embeddingRequestSchema(body: unknown) {
  const input = (body as { input?: unknown } | null)?.input;
  const first: unknown = Array.isArray(input) ? input[0] : undefined;
  const branch =
    typeof first === "number"
      ? tokens
      : Array.isArray(first)
        ? list(tokens)
        : Array.isArray(input)
          ? list(text)
          : inputSchema;
  return z.object({ ...fields, input: branch as unknown as typeof inputSchema });
}

export type EmbeddingRequestBody = z.infer<ReturnType<typeof embeddingRequestSchema>>;

export interface ParsedEmbeddingRequest {
  model: string | undefined;
  inputs: EmbeddingInput[];
  encoding: "float" | "base64";
  dimensions: number | undefined;
}

/** A validated body as our own request: always a list of inputs. */
export function fromEmbeddingRequest(body: EmbeddingRequestBody): ParsedEmbeddingRequest {
  const { input } = body;
  let inputs: EmbeddingInput[];
  if (typeof input === "string") inputs = [input];
  else if (input.every((item) => typeof item === "number")) inputs = [input as number[]];
  else inputs = input as EmbeddingInput[];
  return {
    model: body.model,
    inputs,
    encoding: body.encoding_format ?? "float",
    dimensions: body.dimensions,
  };
}

/**
 * `dimensions` asks OpenAI's text-embedding-3 models for shorter vectors. A GGUF does not say whether its
 * model was trained to be cut short (Matryoshka), so only the model's own size is accepted.
 */
export function checkDimensions(dimensions: number | undefined, modelDimensions: number): void {
  if (dimensions === undefined || dimensions === modelDimensions) return;
  throw new InvalidRequestError(
    `Invalid value for 'dimensions': this model's embeddings have ${modelDimensions} dimensions and cannot ` +
      `be shortened (got ${dimensions}); leave 'dimensions' out or set it to ${modelDimensions}.`,
    "dimensions",
    "invalid_value",
  );
}
