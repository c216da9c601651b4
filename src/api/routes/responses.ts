import type { FastifyReply, FastifyRequest } from "fastify";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { fromResponsesRequest } from "../../openai/from-responses-request.js";
import { newItemId, ResponseEventBuilder } from "../../openai/to-responses.js";
import { ResponseNotFoundError } from "../../provider/errors.js";
import type { ChatMessage, ModelProvider } from "../../provider/types.js";
import { toErrorResponse } from "../errors.js";
import { parseResponsesBody } from "../parse-request.js";
import type { ResponseStore, StoredResponse } from "../response-store.js";
import type { SseWriter } from "../sse.js";
import { beginGeneration, openStream, servingHeaders, toServingBody } from "./generate.js";

/**
 * `POST /v1/responses`: the same generation as chat completions (same provider chain, local or upstream),
 * written as a Response object or its event stream. With `store` (OpenAI's default) the answer is kept
 * for `previous_response_id`, `item_reference` and `GET /v1/responses/{id}`.
 */
export async function serveResponse(
  provider: ModelProvider,
  store: ResponseStore,
  request: FastifyRequest,
  reply: FastifyReply,
  limits: { bodyLimit: number },
): Promise<void> {
  const req = parseResponsesBody(request.body);
  const owner = ownerOf(request);
  let previous: ChatMessage[] | undefined;
  if (req.previous_response_id != null) {
    previous = storedFor(store, req.previous_response_id, request)?.conversation;
    if (!previous) throw new ResponseNotFoundError(req.previous_response_id, "previous_response_id");
  }
  const item = (id: string) => {
    const found = store.item(id);
    return found?.owner === owner ? found.message : undefined;
  };
  const { parsed, conversation, echo } = fromResponsesRequest(req, { previous, item });
  const { model, serving, first, parts } = await beginGeneration(provider, parsed, request, reply);
  const builder = new ResponseEventBuilder({
    id: newItemId("resp"),
    createdAt: Math.floor(Date.now() / 1000),
    model: serving.model ?? model,
    echo,
  });
  const headers = servingHeaders(serving);
  const keep = () => {
    if (echo.store)
      store.put({
        response: builder.response(),
        conversation: [...conversation, ...builder.conversation()],
        items: builder.items(),
        owner,
      });
  };

  if (!parsed.stream) {
    let finished = false;
    for (let step = first; !step.done; step = await parts.next()) {
      builder.push(step.value);
      if (step.value.type === "finish") finished = true;
    }
    if (!finished) return; // aborted: nobody is listening
    keep();
    const body = builder.response();
    await reply
      .headers(headers)
      .send(Object.keys(serving).length > 0 ? { ...body, edgellm: toServingBody(serving) } : body);
    return;
  }

  const sse = openStream(reply, headers);
  send(sse, builder.start());
  try {
    for (let step = first; !step.done; step = await parts.next()) {
      const events = builder.push(step.value);
      // Kept before the last event goes out: a client may build on the response as soon as it has it.
      if (step.value.type === "finish") keep();
      send(sse, events);
    }
  } catch (error) {
    const response = toErrorResponse(error, limits, "responses");
    // A 503 (a shutdown cutting the stream short) is expected, as in the app's error handler.
    if (response.status !== 503) request.log.error({ err: error }, "generation failed mid-stream");
    send(sse, builder.fail(response.body.error));
  }
  sse.end();
}

/** The API key a request came with, by label; null on a server without keys. */
function ownerOf(request: FastifyRequest): string | null {
  return request.apiKey?.label ?? null;
}

/**
 * A stored response, if the request's key made it: with keys set, one client cannot read or build on
 * another's responses even knowing an id.
 */
export function storedFor(
  store: ResponseStore,
  id: string,
  request: FastifyRequest,
): StoredResponse | undefined {
  const stored = store.get(id);
  return stored && stored.owner === ownerOf(request) ? stored : undefined;
}

function send(sse: SseWriter, events: readonly ResponseStreamEvent[]): void {
  for (const event of events) sse.event(event.type, event);
}
