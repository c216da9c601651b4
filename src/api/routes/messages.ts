import type { FastifyReply, FastifyRequest } from "fastify";
import {
  fromMessagesRequest,
  fromPrompt,
  type MessagesRequest,
} from "../../anthropic/from-messages-request.js";
import {
  type CountTokensRequestBody,
  countTokensRequestSchema,
  type MessagesRequestBody,
  messagesRequestSchema,
} from "../../anthropic/messages-schema.js";
import { MessageBuilder, newMessageId } from "../../anthropic/to-message.js";
import type { StreamEvent } from "../../anthropic/wire-types.js";
import type { ModelProvider, Prompt } from "../../provider/types.js";
import { checkSchemaShape } from "../../structured/limits.js";
import { toWireErrorResponse } from "../errors.js";
import type { SseWriter } from "../sse.js";
import { validate } from "../validation.js";
import { beginGeneration, openStream, servingHeaders, toServingBody } from "./generate.js";

/** Names Anthropic's own tools (web search, code execution, ...) a request offered and this server left out. */
export const TOOLS_IGNORED_HEADER = "x-edgellm-tools-ignored";

/** Counts a prompt's tokens as the local model would see it (chat template and tools included). */
export type TokenCounter = (prompt: Prompt) => Promise<number>;

/**
 * Betas that change nothing this server does or that it honours: Claude Code's, prompt caching (the prefix
 * cache is automatic), token counting, fine-grained tool streaming, structured outputs. Others are ignored
 * and logged once each.
 */
const KNOWN_BETAS = [
  /^claude-code-/,
  /^context-1m-/,
  /^interleaved-thinking-/,
  /^thinking-token-count-/,
  /^context-management-/,
  /^prompt-caching-/,
  /^mid-conversation-system-/,
  /^effort-/,
  /^token-counting-/,
  /^fine-grained-tool-streaming-/,
  /^structured-outputs-/,
  /^token-efficient-tools-/,
];
const loggedBetas = new Set<string>();
const MAX_LOGGED_BETAS = 256;

/**
 * `POST /v1/messages`, Anthropic's Messages API: the same generation as chat completions (same provider
 * chain: routing, caches, key limits, grammar-forced tool calls), written as a `message` or its event stream.
 */
export async function serveMessages(
  provider: ModelProvider,
  request: FastifyRequest,
  reply: FastifyReply,
  limits: { bodyLimit: number },
  countTokens?: TokenCounter,
): Promise<void> {
  noteBetas(request);
  const translated = fromMessagesRequest(parseMessagesBody(request.body));
  const { parsed, ignoredTools } = translated;
  leaveOutTools(ignoredTools, request, reply);
  const uncapped = await capMaxTokens(provider, translated, countTokens);
  const { model, serving, first, parts } = await beginGeneration(provider, parsed, request, reply);
  const builder = new MessageBuilder({
    id: newMessageId(),
    model: serving.model ?? model,
    uncapped,
  });
  const headers = servingHeaders(serving);

  if (!parsed.stream) {
    for (let step = first; !step.done; step = await parts.next()) builder.push(step.value);
    if (!builder.finished) return; // aborted: nobody is listening
    const body = builder.message();
    await reply
      .headers(headers)
      .send(Object.keys(serving).length > 0 ? { ...body, edgellm: toServingBody(serving) } : body);
    return;
  }

  const sse = openStream(reply, headers);
  send(sse, builder.start());
  try {
    for (let step = first; !step.done; step = await parts.next()) send(sse, builder.push(step.value));
  } catch (error) {
    const response = toWireErrorResponse(error, limits, "messages");
    // A 503 (a shutdown cutting the stream short) is expected, as in the app's error handler.
    if (response.status !== 529) request.log.error({ err: error }, "generation failed mid-stream");
    sse.event("error", response.body);
  }
  sse.end();
}

/**
 * `POST /v1/messages/count_tokens`: the prompt's tokens (system, messages and tools, through the chat
 * template) with the local model's tokenizer, whichever route the model name takes; without a tokenizer (an
 * app built with none) an estimate of 4 bytes a token, said so in `x-edgellm-warning`.
 */
export async function serveCountTokens(
  provider: ModelProvider,
  countTokens: TokenCounter | undefined,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<{ input_tokens: number }> {
  noteBetas(request);
  const body = validate(countTokensRequestSchema, request.body);
  checkSchemas(body);
  const { prompt, ignoredTools } = fromPrompt(body);
  leaveOutTools(ignoredTools, request, reply);
  provider.resolveModel(body.model);
  if (countTokens) return { input_tokens: await countTokens(prompt) };
  reply.header("x-edgellm-warning", "estimated: no tokenizer, 4 bytes a token");
  return { input_tokens: Math.ceil(Buffer.byteLength(JSON.stringify(prompt)) / 4) };
}

/** A body checked like the OpenAI ones: its schema, then the depth and size of the JSON Schemas it carries. */
function parseMessagesBody(body: unknown): MessagesRequestBody {
  const req = validate(messagesRequestSchema, body);
  checkSchemas(req);
  return req;
}

function checkSchemas(req: CountTokensRequestBody): void {
  const format = req.output_config?.format;
  if (format) checkSchemaShape(format.schema, "format.schema");
  let i = 0;
  for (const tool of req.tools ?? [])
    if ("input_schema" in tool && tool.input_schema !== undefined)
      checkSchemaShape(tool.input_schema, `tools.${i++}.parameters`);
}

/**
 * Anthropic's `max_tokens` is required, and clients send the model's whole output budget (Claude Code sends
 * 32000 or 64000), so here it is a cap, as llama-server and Ollama take it: when the prompt and max_tokens
 * together do not fit the served model's context, generation runs until the context is full
 * (`stop_reason: "model_context_window_exceeded"`, Anthropic's own) instead of being refused. Only a prompt that
 * leaves no room at all is refused (context_length_exceeded). The prompt is counted with the local
 * tokenizer, so on an upstream route the cut is an estimate.
 */
async function capMaxTokens(
  provider: ModelProvider,
  translated: MessagesRequest,
  countTokens: TokenCounter | undefined,
): Promise<boolean> {
  const { sampling, prompt } = translated.parsed;
  const maxTokens = sampling.maxTokens ?? 0;
  const id = provider.resolveModel(translated.parsed.model);
  const contextSize = provider.listModels().find((m) => m.id === id)?.contextSize;
  if (contextSize === undefined) return false;
  let fits = maxTokens < contextSize;
  if (fits && countTokens) {
    // No count (the local model not loaded, on a request an upstream may still answer): max_tokens stands.
    const promptTokens = await countTokens(prompt).catch(() => undefined);
    fits = promptTokens === undefined || promptTokens + maxTokens <= contextSize;
  }
  if (!fits) sampling.maxTokens = undefined;
  return !fits;
}

function leaveOutTools(ignored: readonly string[], request: FastifyRequest, reply: FastifyReply): void {
  if (ignored.length === 0) return;
  reply.header(TOOLS_IGNORED_HEADER, ignored.join(", "));
  request.log.info(
    { tools: ignored },
    "Anthropic server tools offered that this server does not have were left out",
  );
}

/** Accepts any `anthropic-version` and `anthropic-beta`; a beta this server knows nothing of is logged once. */
function noteBetas(request: FastifyRequest): void {
  const header = request.headers["anthropic-beta"];
  const betas = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((b) => b.trim());
  for (const beta of betas) {
    if (beta === "" || loggedBetas.has(beta) || KNOWN_BETAS.some((known) => known.test(beta))) continue;
    if (loggedBetas.size >= MAX_LOGGED_BETAS) return; // a client making up names cannot grow the set
    loggedBetas.add(beta);
    request.log.info({ beta: beta.slice(0, 100) }, "anthropic-beta not known to this server: ignored");
  }
}

function send(sse: SseWriter, events: readonly StreamEvent[]): void {
  for (const event of events) sse.event(event.type, event);
}
