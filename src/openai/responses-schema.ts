import { z } from "zod";
import {
  jsonFitsIn,
  MAX_CONTENT_BYTES,
  MAX_ID_LENGTH,
  MAX_MESSAGES,
  MAX_NAME_LENGTH,
  MAX_TOOLS,
  MAX_TOOLS_JSON_BYTES,
} from "./limits.js";
import { reasoningEffort, utf8Text } from "./request-schemas.js";

/**
 * The body of `POST /v1/responses` (OpenAI's Responses API), as a zod schema bounded like the chat
 * schema (limits.ts). Built-in tool types pass the schema as "other" so that the translation
 * (from-responses-request.ts) can leave them out by name, or refuse them by name when `tool_choice` forces
 * one; fields we do not implement are declared here so that using them is refused by name; an item type
 * we do not read is refused by the schema. Unknown extra fields are ignored, as on the other endpoints.
 */

const functionName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1-64 letters, digits, _ or -");
const jsonSchema = z.union([z.record(z.string(), z.unknown()), z.boolean()]);
const text = utf8Text(MAX_CONTENT_BYTES);

/** A content part of a message item: its text, whatever the part's type (checked in the translation). */
const contentPart = z.object({ type: z.string(), text: text.optional() }).passthrough();

function textBytes(parts: readonly { text?: string }[]): number {
  let bytes = 0;
  for (const part of parts) bytes += part.text ? Buffer.byteLength(part.text) : 0;
  return bytes;
}

const content = z.union([
  text,
  z
    .array(contentPart)
    .refine(
      (parts) => textBytes(parts) <= MAX_CONTENT_BYTES,
      `its text parts together must be at most ${MAX_CONTENT_BYTES} bytes of UTF-8 text`,
    ),
]);

const id = z.string().max(MAX_ID_LENGTH);

/** A message; `type` may be left out (OpenAI's "easy input message"). */
const messageItem = z.object({
  type: z.literal("message"),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content,
  id: id.optional(),
});

const functionCallItem = z.object({
  type: z.literal("function_call"),
  call_id: id,
  name: z.string().min(1).max(MAX_NAME_LENGTH),
  /** Set on a call of a function in a `namespace` tool. */
  namespace: z.string().min(1).max(MAX_NAME_LENGTH).optional(),
  arguments: text,
  id: id.optional(),
});

const functionCallOutputItem = z.object({
  type: z.literal("function_call_output"),
  call_id: id,
  output: content,
  id: id.nullable().optional(),
});

const itemReference = z.object({ type: z.literal("item_reference"), id });

/** A compaction item from `POST /v1/responses/compact`: the earlier conversation, summarized (compaction.ts). */
const compactionItem = z.object({
  type: z.literal("compaction"),
  encrypted_content: z.string().max(MAX_CONTENT_BYTES * 2),
  id: id.nullable().optional(),
});

/**
 * The item kinds edgellm reads; any other (reasoning, web_search_call, ...) is refused as not one of
 * them. A message may leave `type` out (OpenAI's "easy input message"), so it is filled in first.
 */
export const responsesInputItemSchema = z.preprocess(
  (item) =>
    item !== null &&
    typeof item === "object" &&
    !Array.isArray(item) &&
    (item as { type?: unknown }).type === undefined
      ? { ...item, type: "message" }
      : item,
  z.discriminatedUnion("type", [
    messageItem,
    functionCallItem,
    functionCallOutputItem,
    itemReference,
    compactionItem,
  ]),
);

const functionTool = z.object({
  type: z.literal("function"),
  name: functionName,
  description: z.string().nullable().optional(),
  parameters: jsonSchema.nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

/** A group of function tools under one name (Codex sends its own so); custom tools in it are built-in. */
const namespaceTool = z.object({
  type: z.literal("namespace"),
  name: functionName,
  description: z.string(),
  tools: z
    .array(
      z.union([
        functionTool,
        z
          .object({ type: z.string().refine((t) => t !== "function", "is not a function tool") })
          .passthrough(),
      ]),
    )
    .min(1),
});

/**
 * A built-in tool (web_search, code_interpreter, custom, ...): offered, it is left out of what the model
 * sees (the translation says which); file_search is the knowledge base's (the route takes it out first).
 */
const otherTool = z
  .object({
    type: z.string().refine((t) => t !== "function" && t !== "namespace", "is not a supported tool type"),
  })
  .passthrough();

const tools = z
  .array(z.union([functionTool, namespaceTool, otherTool]))
  .max(MAX_TOOLS)
  .refine(
    (list) => jsonFitsIn(list, MAX_TOOLS_JSON_BYTES),
    `must be at most ${MAX_TOOLS_JSON_BYTES} bytes as JSON`,
  );

const toolChoice = z.union([
  z.enum(["auto", "none", "required"]),
  z.object({ type: z.literal("function"), name: z.string().max(MAX_NAME_LENGTH) }),
  // allowed_tools, hosted tool choices: refused in the translation.
  z.object({ type: z.string() }).passthrough(),
]);

export const textFormatSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    name: functionName,
    schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    strict: z.boolean().nullable().optional(),
  }),
]);

/** OpenAI's `include` values (IncludeEnum): each is accepted; the translation says what each gives. */
export const INCLUDE_VALUES = [
  "file_search_call.results",
  "web_search_call.results",
  "web_search_call.action.sources",
  "message.input_image.image_url",
  "computer_call_output.output.image_url",
  "code_interpreter_call.outputs",
  "reasoning.encrypted_content",
  "message.output_text.logprobs",
] as const;

/** OpenAI's `reasoning` object, checked as the spec does; nothing in it changes generation here. */
const reasoning = z
  .object({
    effort: reasoningEffort.nullable().optional(),
    summary: z.enum(["auto", "concise", "detailed"]).nullable().optional(),
    generate_summary: z.enum(["auto", "concise", "detailed"]).nullable().optional(),
  })
  .passthrough();

const positiveInt = z.number().int().min(1);

export const responsesRequestSchema = z.object({
  model: z.string().optional(),
  input: z.union([text, z.array(responsesInputItemSchema).max(MAX_MESSAGES)]).optional(),
  instructions: text.nullable().optional(),
  max_output_tokens: positiveInt.nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  text: z
    .object({
      format: textFormatSchema.optional(),
      // A hint for OpenAI's reasoning models on how long to answer; meaningless here, so ignored.
      verbosity: z.enum(["low", "medium", "high"]).nullable().optional(),
    })
    .nullable()
    .optional(),
  tools: tools.nullable().optional(),
  tool_choice: toolChoice.nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  store: z.boolean().nullable().optional(),
  previous_response_id: id.nullable().optional(),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional(),
  user: z.string().optional(),
  include: z.array(z.enum(INCLUDE_VALUES)).nullable().optional(),
  // A hint for reasoning models; the model served here does not reason separately, so it changes nothing.
  reasoning: reasoning.nullable().optional(),
  // Declared so that using them is refused by name rather than silently ignored (see the translation).
  background: z.boolean().nullable().optional(),
  truncation: z.enum(["auto", "disabled"]).nullable().optional(),
  /** Compaction: past `compact_threshold` prompt tokens the earlier turns are summarized into one item. */
  context_management: z
    .array(
      z.object({
        type: z.literal("compaction"),
        compact_threshold: z.number().int().min(1000).nullable().optional(),
      }),
    )
    .max(4)
    .nullable()
    .optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  conversation: z
    .union([id, z.object({ id })])
    .nullable()
    .optional(),
  prompt: z.unknown().optional(),
  max_tool_calls: z.number().int().nullable().optional(),
  // edgellm's sampling extras, as on chat completions.
  seed: z.number().int().nullable().optional(),
  top_k: z.number().int().min(0).nullable().optional(),
  min_p: z.number().min(0).max(1).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  repetition_penalty: z.number().gt(0).max(10).nullable().optional(),
  ignore_eos: z.boolean().optional(),
});

export type ResponsesRequestBody = z.infer<typeof responsesRequestSchema>;
export type ResponsesInputItem = z.infer<typeof responsesInputItemSchema>;
export type TextFormatBody = z.infer<typeof textFormatSchema>;
