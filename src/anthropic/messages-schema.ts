import { z } from "zod";
import {
  jsonFitsIn,
  MAX_CONTENT_BYTES,
  MAX_ID_LENGTH,
  MAX_MESSAGES,
  MAX_NAME_LENGTH,
  MAX_STOP_LENGTH,
  MAX_STOP_STRINGS,
  MAX_TOOLS,
  MAX_TOOLS_JSON_BYTES,
} from "../openai/limits.js";
import { utf8Text } from "../openai/request-schemas.js";

/**
 * Request bodies of Anthropic's Messages API (`POST /v1/messages` and `/v1/messages/count_tokens`) as zod
 * schemas, bounded like the OpenAI ones (src/openai/limits.ts). Every content block type Anthropic documents
 * is declared, so that one this server cannot read (an image, a document, a server tool's result) is refused
 * by name in the translation rather than dropped; unknown top-level fields are ignored, as Anthropic's own
 * API ignores fields of betas a request does not enable.
 */

/** `cache_control` is accepted on every block and ignored: the prefix cache reuses any shared prefix anyway. */
const cacheControl = z.object({ type: z.string(), ttl: z.string().optional() }).loose().nullable().optional();

const text = utf8Text(MAX_CONTENT_BYTES);

export const textBlockSchema = z.object({
  type: z.literal("text"),
  text,
  cache_control: cacheControl,
  citations: z.array(z.unknown()).nullable().optional(),
});

/** Blocks this server cannot read: declared so that the translation refuses them by name. */
const refusedBlock = <T extends string>(type: T) => z.object({ type: z.literal(type) }).loose();

const jsonObject = z.record(z.string(), z.unknown());

const toolUseBlock = z.object({
  type: z.literal("tool_use"),
  id: z.string().min(1).max(MAX_ID_LENGTH),
  name: z.string().min(1).max(MAX_NAME_LENGTH),
  input: jsonObject,
  cache_control: cacheControl,
});

const toolResultBlock = z.object({
  type: z.literal("tool_result"),
  tool_use_id: z.string().min(1).max(MAX_ID_LENGTH),
  content: z
    .union([
      text,
      z.array(
        z.discriminatedUnion("type", [
          textBlockSchema,
          refusedBlock("image"),
          refusedBlock("document"),
          refusedBlock("search_result"),
        ]),
      ),
    ])
    .optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
});

const thinkingBlock = z.object({
  type: z.literal("thinking"),
  thinking: z.string(),
  signature: z.string().optional(),
});
const redactedThinkingBlock = z.object({ type: z.literal("redacted_thinking"), data: z.string() });

/** Block types that only Anthropic's own servers produce or read (server tools, files, containers). */
export const REFUSED_BLOCK_TYPES = [
  "image",
  "document",
  "search_result",
  "server_tool_use",
  "web_search_tool_result",
  "web_fetch_tool_result",
  "code_execution_tool_result",
  "bash_code_execution_tool_result",
  "text_editor_code_execution_tool_result",
  "tool_search_tool_result",
  "mcp_tool_use",
  "mcp_tool_result",
  "container_upload",
] as const;

const contentBlock = z.discriminatedUnion("type", [
  textBlockSchema,
  toolUseBlock,
  toolResultBlock,
  thinkingBlock,
  redactedThinkingBlock,
  ...REFUSED_BLOCK_TYPES.map(refusedBlock),
]);

export type ContentBlockBody = z.infer<typeof contentBlock>;

function textBytes(blocks: readonly { type: string; text?: unknown }[]): number {
  let bytes = 0;
  for (const block of blocks) bytes += typeof block.text === "string" ? Buffer.byteLength(block.text) : 0;
  return bytes;
}

const messageSchema = z.object({
  // "system" in the list: Claude Code sends mid-conversation system turns (its `mid-conversation-system` beta).
  role: z.enum(["user", "assistant", "system"]),
  content: z.union([
    text,
    z
      .array(contentBlock)
      .max(MAX_MESSAGES)
      .refine(
        (blocks) => textBytes(blocks) <= MAX_CONTENT_BYTES,
        `its text blocks together must be at most ${MAX_CONTENT_BYTES} bytes of UTF-8 text`,
      ),
  ]),
});

export type MessageBody = z.infer<typeof messageSchema>;

const toolName = z.string().regex(/^[a-zA-Z0-9_-]{1,128}$/, "must be 1-128 letters, digits, _ or -");

/**
 * A client tool with an `input_schema` (`type` absent or "custom"), or one of Anthropic's versioned tools
 * (`web_search_20250305`, `bash_20250124`, ...), which this server does not have: those are left out when
 * offered and refused when forced, like built-in tools on /v1/responses.
 */
const toolSchema = z.union([
  z.object({
    type: z.literal("custom").nullable().optional(),
    name: toolName,
    description: z.string().optional(),
    input_schema: jsonObject,
    cache_control: cacheControl,
    strict: z.boolean().optional(),
  }),
  z
    .object({
      type: z.string().regex(/^(?!custom$)/, 'must not be "custom" without an input_schema'),
      name: z.string().max(MAX_NAME_LENGTH),
    })
    .loose(),
]);

export type ToolBody = z.infer<typeof toolSchema>;

const toolChoiceSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto"), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal("any"), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({
    type: z.literal("tool"),
    name: z.string().max(MAX_NAME_LENGTH),
    disable_parallel_tool_use: z.boolean().optional(),
  }),
  z.object({ type: z.literal("none") }),
]);

const systemSchema = z.union([text, z.array(textBlockSchema).max(MAX_MESSAGES)]);

const thinkingSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("enabled"), budget_tokens: z.number().int() }).loose(),
  z.object({ type: z.literal("disabled") }),
  z.object({ type: z.literal("adaptive") }).loose(),
]);

const tools = z
  .array(toolSchema)
  .max(MAX_TOOLS)
  .refine(
    (list) => jsonFitsIn(list, MAX_TOOLS_JSON_BYTES),
    `must be at most ${MAX_TOOLS_JSON_BYTES} bytes as JSON`,
  );

/** What count_tokens reads: the prompt part of a Messages request. */
const promptFields = {
  model: z.string().min(1).max(MAX_NAME_LENGTH),
  messages: z.array(messageSchema).min(1).max(MAX_MESSAGES),
  system: systemSchema.optional(),
  tools: tools.optional(),
  tool_choice: toolChoiceSchema.optional(),
  thinking: thinkingSchema.optional(),
  /** Claude Code's `context_management` beta: only `clear_thinking` edits, a no-op here, are accepted. */
  context_management: z
    .object({ edits: z.array(z.object({ type: z.string() }).loose()).optional() })
    .loose()
    .nullable()
    .optional(),
  /** `effort` is a hint and ignored; `format` (structured outputs) constrains the answer. */
  output_config: z
    .object({
      effort: z.string().optional(),
      format: z
        .object({ type: z.literal("json_schema"), schema: jsonObject })
        .nullable()
        .optional(),
    })
    .loose()
    .nullable()
    .optional(),
  /** Declared so that it is refused by name: edgellm connects to no MCP server. */
  mcp_servers: z.array(z.unknown()).optional(),
};

export const countTokensRequestSchema = z.object(promptFields);

export const messagesRequestSchema = z.object({
  ...promptFields,
  max_tokens: z.number().int().min(1),
  stop_sequences: z.array(z.string().min(1).max(MAX_STOP_LENGTH)).max(MAX_STOP_STRINGS).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  metadata: z
    .object({ user_id: z.string().max(MAX_ID_LENGTH).nullable().optional() })
    .loose()
    .optional(),
});

export type CountTokensRequestBody = z.infer<typeof countTokensRequestSchema>;
export type MessagesRequestBody = z.infer<typeof messagesRequestSchema>;
