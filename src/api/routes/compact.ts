import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { encodeCompaction } from "../../openai/compaction.js";
import { fromResponsesRequest } from "../../openai/from-responses-request.js";
import { newItemId, toResponsesUsage } from "../../openai/to-responses.js";
import { type ChatMessage, DEFAULT_SAMPLING, type ModelProvider, type Usage } from "../../provider/types.js";
import type { ResponseStore } from "../../store/response-store.js";
import { parseResponsesBody } from "../parse-request.js";
import { validate } from "../validation.js";
import { storedHistory } from "./responses.js";

/** Tokens a summary may take. */
const SUMMARY_TOKENS = 320;

const SUMMARIZE =
  "You condense conversations. Write a short summary of the conversation above for whoever continues it: " +
  "the user's goals and questions, facts, names, numbers, decisions and open points, in the conversation's " +
  "own language. Write only the summary.";

const compactSchema = z.object({
  model: z.string().nullable().optional(),
  input: z.unknown().optional(),
  previous_response_id: z.string().nullable().optional(),
  instructions: z.string().nullable().optional(),
});

/**
 * The model's summary of a conversation: its turns (the oldest dropped first when they do not fit the
 * context), then the request to summarize them.
 */
export async function summarize(
  provider: ModelProvider,
  model: string,
  turns: readonly ChatMessage[],
  signal: AbortSignal,
): Promise<{ summary: string; usage: Usage }> {
  let summary = "";
  let usage: Usage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };
  const stream = provider.stream(
    {
      model,
      prompt: {
        kind: "chat",
        messages: [
          { role: "system", content: SUMMARIZE },
          ...turns.filter((m) => m.role !== "system"),
          { role: "user", content: "Summarize the conversation above now." },
        ],
      },
      sampling: { ...DEFAULT_SAMPLING, maxTokens: SUMMARY_TOKENS, temperature: 0.2 },
      contextOverflow: "truncate",
      cache: "bypass",
    },
    { signal },
  );
  for await (const part of stream) {
    if (part.type === "text-delta") summary += part.text;
    else if (part.type === "finish") usage = part.usage;
  }
  return { summary: summary.trim(), usage };
}

/**
 * `POST /v1/responses/compact`: the conversation (`input`, after `previous_response_id`'s) compacted as OpenAI
 * does it: its user messages, then one compaction item standing for all of it (here, the model's summary),
 * which a next request sends back as input instead of the whole history.
 */
export async function serveCompact(
  provider: ModelProvider,
  store: ResponseStore,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const body = validate(compactSchema, request.body);
  const req = parseResponsesBody({
    input: body.input,
    ...(body.model != null && { model: body.model }),
    ...(body.previous_response_id != null && { previous_response_id: body.previous_response_id }),
    ...(body.instructions != null && { instructions: body.instructions }),
  });
  const { conversation } = fromResponsesRequest(req, storedHistory(store, req, request));
  const model = provider.resolveModel(req.model);
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort(new Error("client disconnected"));
  });
  const { summary, usage } = await summarize(provider, model, conversation, controller.signal);
  const userMessages = conversation
    .filter((m) => m.role === "user")
    .map((m) => ({
      type: "message",
      id: newItemId("msg"),
      status: "completed",
      role: "user",
      content: [{ type: "input_text", text: m.content }],
    }));
  return {
    id: newItemId("resp"),
    object: "response.compaction",
    created_at: Math.floor(Date.now() / 1000),
    output: [
      ...userMessages,
      { type: "compaction", id: newItemId("cmp"), encrypted_content: encodeCompaction(summary) },
    ],
    usage: toResponsesUsage(usage),
  };
}
