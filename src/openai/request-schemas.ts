import { z } from "zod";
import {
  jsonFitsIn,
  MAX_CONTENT_BYTES,
  MAX_ID_LENGTH,
  MAX_LOGIT_BIAS,
  MAX_MESSAGES,
  MAX_NAME_LENGTH,
  MAX_STOP_LENGTH,
  MAX_STOP_STRINGS,
  MAX_TOOLS,
  MAX_TOOLS_JSON_BYTES,
} from "./limits.js";

/**
 * Request bodies of the OpenAI-compatible endpoints, as zod schemas: the wire types the server side of
 * the codec reads (api/ validates a body against them and reports the first problem). Parameters we do
 * not implement yet are declared so that a request using them is refused with a 400 naming them,
 * instead of being silently ignored; unknown extra fields are ignored, as llama-server and vLLM do.
 * Sizes are bounded here (limits.ts), so an oversized field is refused by name before any work is
 * spent on it.
 */

/** At most `max` UTF-8 bytes. A UTF-16 unit is 1 to 3 bytes, so bytes are only counted when it matters. */
export function utf8Text(max: number) {
  return z
    .string()
    .refine(
      (s) => s.length <= max && (s.length * 3 <= max || Buffer.byteLength(s) <= max),
      `must be at most ${max} bytes of UTF-8 text`,
    );
}

const contentPart = z
  .object({ type: z.string(), text: utf8Text(MAX_CONTENT_BYTES).optional() })
  .passthrough();

function textBytes(parts: readonly { text?: string }[]): number {
  let bytes = 0;
  for (const part of parts) bytes += part.text ? Buffer.byteLength(part.text) : 0;
  return bytes;
}

const messageContent = z.union([
  utf8Text(MAX_CONTENT_BYTES),
  z
    .array(contentPart)
    .refine(
      (parts) => textBytes(parts) <= MAX_CONTENT_BYTES,
      `its text parts together must be at most ${MAX_CONTENT_BYTES} bytes of UTF-8 text`,
    ),
]);

const toolCallSchema = z.object({
  id: z.string().max(MAX_ID_LENGTH),
  type: z.literal("function").optional(),
  function: z.object({
    name: z.string().min(1).max(MAX_NAME_LENGTH),
    arguments: utf8Text(MAX_CONTENT_BYTES),
  }),
});

export const chatMessageSchema = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: messageContent.nullable().optional(),
  name: z.string().max(MAX_NAME_LENGTH).optional(),
  tool_calls: z.array(toolCallSchema).max(MAX_TOOLS).nullable().optional(),
  tool_call_id: z.string().max(MAX_ID_LENGTH).optional(),
});

const jsonSchema = z.union([z.record(z.string(), z.unknown()), z.boolean()]);

/** OpenAI's response_format; the schema itself is checked later, keyword by keyword. */
export const responseFormatSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1-64 letters, digits, _ or -"),
      description: z.string().optional(),
      schema: jsonSchema.optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

const toolSchema = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1-64 letters, digits, _ or -"),
    description: z.string().optional(),
    parameters: jsonSchema.optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

const toolChoiceSchema = z.union([
  z.enum(["auto", "none", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: z.string().max(MAX_NAME_LENGTH) }) }),
]);

const tools = z
  .array(toolSchema)
  .max(MAX_TOOLS)
  .refine(
    (list) => jsonFitsIn(list, MAX_TOOLS_JSON_BYTES),
    `must be at most ${MAX_TOOLS_JSON_BYTES} bytes as JSON`,
  );

const stopString = z.string().max(MAX_STOP_LENGTH);
const stop = z
  .union([stopString, z.array(stopString).max(MAX_STOP_STRINGS)])
  .nullable()
  .optional();
const positiveInt = z.number().int().min(1);

/** `{"<token id>": bias}`, bias -100 (ban) to 100 (all but force); the ids are checked against the vocabulary later. */
const logitBias = z
  .record(
    z.string().regex(/^(0|[1-9]\d{0,9})$/, "its keys must be token ids (whole numbers from 0)"),
    z.number().min(-100).max(100),
  )
  .refine((bias) => Object.keys(bias).length <= MAX_LOGIT_BIAS, `must have at most ${MAX_LOGIT_BIAS} entries`)
  .nullable()
  .optional();

/** OpenAI's ReasoningEffort values, for chat's `reasoning_effort` and Responses' `reasoning.effort`. */
export const reasoningEffort = z.enum(["none", "minimal", "low", "medium", "high", "xhigh", "max"]);

/** Sampling fields shared by chat and text completions. */
const sampling = {
  model: z.string().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  max_tokens: positiveInt.nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  top_k: z.number().int().min(0).nullable().optional(),
  min_p: z.number().min(0).max(1).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop,
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  repetition_penalty: z.number().gt(0).max(10).nullable().optional(),
  n: z.number().int().min(1).nullable().optional(),
  ignore_eos: z.boolean().optional(),
  logit_bias: logitBias,
  user: z.string().optional(),
};

export const chatRequestSchema = z.object({
  ...sampling,
  messages: z.array(chatMessageSchema).min(1).max(MAX_MESSAGES),
  max_completion_tokens: positiveInt.nullable().optional(),
  response_format: responseFormatSchema.nullable().optional(),
  tools: tools.nullable().optional(),
  tool_choice: toolChoiceSchema.nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  // Hints for reasoning models, checked as OpenAI's spec does; the model served here does not reason
  // separately, so they change nothing (as `reasoning` and `text.verbosity` on /v1/responses).
  reasoning_effort: reasoningEffort.nullable().optional(),
  verbosity: z.enum(["low", "medium", "high"]).nullable().optional(),
  // OpenAI's deprecated forerunners of tools and tool_choice: declared only so that they are refused by name.
  functions: z.unknown().optional(),
  function_call: z.unknown().optional(),
});

/**
 * An empty prompt has no token to predict from (Qwen adds no BOS). llama-server refuses an empty list
 * and answers an empty string with an empty completion; we refuse both, by name.
 */
const promptText = utf8Text(MAX_CONTENT_BYTES).min(1, "must not be empty");

export const completionRequestSchema = z.object({
  ...sampling,
  prompt: z.union([promptText, z.array(promptText).min(1)]),
  echo: z.boolean().nullable().optional(),
  suffix: z.string().nullable().optional(),
  best_of: z.number().int().nullable().optional(),
  logprobs: z.number().int().nullable().optional(),
  response_format: responseFormatSchema.nullable().optional(),
});

export type ChatRequestBody = z.infer<typeof chatRequestSchema>;
export type CompletionRequestBody = z.infer<typeof completionRequestSchema>;
export type ChatMessageBody = z.infer<typeof chatMessageSchema>;
export type ResponseFormatBody = z.infer<typeof responseFormatSchema>;
