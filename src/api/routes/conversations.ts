import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { responsesInputItemSchema } from "../../openai/responses-schema.js";
import { newItemId } from "../../openai/to-responses.js";
import { metadata } from "../../openai/vector-store-schemas.js";
import { ConversationNotFoundError, InvalidRequestError } from "../../provider/errors.js";
import type {
  ConversationItemRecord,
  ConversationRecord,
  SqliteConversationStore,
} from "../../store/sqlite-conversation-store.js";
import { ownerOf } from "../owner.js";
import { validate } from "../validation.js";

/** Items one request may add (OpenAI's limit). */
const MAX_ITEMS_PER_REQUEST = 20;

const createSchema = z.object({
  metadata: metadata.nullable().optional(),
  items: z.array(responsesInputItemSchema).max(MAX_ITEMS_PER_REQUEST).nullable().optional(),
});
const updateSchema = z.object({ metadata: metadata });
const addItemsSchema = z.object({
  items: z.array(responsesInputItemSchema).min(1).max(MAX_ITEMS_PER_REQUEST),
});
const listSchema = z.object({
  after: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
  order: z.enum(["asc", "desc"]).optional(),
  include: z.union([z.string(), z.array(z.string())]).optional(),
});

const listConversationsSchema = z.object({
  after: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

type InputItem = z.infer<typeof responsesInputItemSchema>;

/**
 * An input item as a conversation keeps it: in the shape OpenAI gives its items back (a message's text as
 * `input_text` or, the assistant's, `output_text` parts; ids and `status` filled in).
 */
export function toConversationItem(item: InputItem): ConversationItemRecord {
  switch (item.type) {
    case "message": {
      const partType = item.role === "assistant" ? "output_text" : "input_text";
      const content =
        typeof item.content === "string"
          ? [{ type: partType, text: item.content, ...(partType === "output_text" && { annotations: [] }) }]
          : item.content;
      const id = item.id ?? newItemId("msg");
      return { id, body: { type: "message", id, status: "completed", role: item.role, content } };
    }
    case "function_call": {
      const id = item.id ?? newItemId("fc");
      const { type: _type, id: _id, ...rest } = item;
      return { id, body: { type: "function_call", id, status: "completed", ...rest } };
    }
    case "function_call_output": {
      const id = item.id ?? newItemId("fco");
      const { type: _type, id: _id, ...rest } = item;
      return { id, body: { type: "function_call_output", id, status: "completed", ...rest } };
    }
    case "compaction": {
      const id = item.id ?? newItemId("cmp");
      return { id, body: { type: "compaction", id, encrypted_content: item.encrypted_content } };
    }
    default:
      throw new InvalidRequestError(
        `A conversation item of type '${item.type}' cannot be added: add the item it refers to instead.`,
        "items",
      );
  }
}

function toConversationObject(record: ConversationRecord) {
  return { id: record.id, object: "conversation", created_at: record.createdAt, metadata: record.metadata };
}

/**
 * OpenAI's Conversations API: `POST /v1/conversations`, retrieve, update (`POST .../{id}`), delete, and its
 * items (list with cursors and order, add up to 20, retrieve, delete). A conversation belongs to the API key
 * that made it: another key's id is answered as an unknown one.
 */
export function conversationRoutes(app: FastifyInstance, conversations: SqliteConversationStore): void {
  const owned = (request: FastifyRequest, id: string): ConversationRecord => {
    const record = conversations.get(id);
    if (!record || record.owner !== ownerOf(request)) throw new ConversationNotFoundError("conversation", id);
    return record;
  };
  for (const prefix of ["/v1", ""]) {
    const base = `${prefix}/conversations`;
    type Params = { Params: { id: string } };
    type ItemParams = { Params: { id: string; item: string } };
    app.post(base, async (request) => {
      const body = validate(createSchema, request.body ?? {});
      const items = (body.items ?? []).map(toConversationItem);
      return toConversationObject(
        conversations.create(newItemId("conv"), ownerOf(request), body.metadata ?? {}, items),
      );
    });
    // Not in OpenAI's API (which lists no conversations): what a client needs to show a key's history.
    app.get(base, async (request) => {
      const query = validate(listConversationsSchema, request.query ?? {});
      const page = conversations.list(ownerOf(request), { after: query.after, limit: query.limit ?? 100 });
      if (!page) throw new ConversationNotFoundError("conversation", query.after ?? "", "after");
      return {
        object: "list",
        data: page.conversations.map((c) => ({
          ...toConversationObject(c),
          updated_at: c.updatedAt,
          items: c.items,
        })),
        first_id: page.conversations[0]?.id ?? null,
        last_id: page.conversations.at(-1)?.id ?? null,
        has_more: page.hasMore,
      };
    });
    app.get<Params>(`${base}/:id`, async (request) =>
      toConversationObject(owned(request, request.params.id)),
    );
    app.post<Params>(`${base}/:id`, async (request) => {
      owned(request, request.params.id);
      const body = validate(updateSchema, request.body);
      conversations.setMetadata(request.params.id, body.metadata);
      return toConversationObject(owned(request, request.params.id));
    });
    app.delete<Params>(`${base}/:id`, async (request) => {
      owned(request, request.params.id);
      conversations.delete(request.params.id);
      return { id: request.params.id, object: "conversation.deleted", deleted: true };
    });
    app.get<Params>(`${base}/:id/items`, async (request) => {
      owned(request, request.params.id);
      const query = validate(listSchema, request.query ?? {});
      const page = conversations.items(request.params.id, {
        after: query.after,
        limit: query.limit ?? 20,
        order: query.order ?? "desc",
      });
      if (!page) throw new ConversationNotFoundError("conversation item", query.after ?? "", "after");
      return {
        object: "list",
        data: page.items.map((i) => i.body),
        first_id: page.items[0]?.id ?? null,
        last_id: page.items.at(-1)?.id ?? null,
        has_more: page.hasMore,
      };
    });
    app.post<Params>(`${base}/:id/items`, async (request) => {
      owned(request, request.params.id);
      const body = validate(addItemsSchema, request.body);
      const items = body.items.map(toConversationItem);
      conversations.add(request.params.id, items);
      return {
        object: "list",
        data: items.map((i) => i.body),
        first_id: items[0]?.id ?? null,
        last_id: items.at(-1)?.id ?? null,
        has_more: false,
      };
    });
    app.get<ItemParams>(`${base}/:id/items/:item`, async (request) => {
      owned(request, request.params.id);
      const item = conversations.item(request.params.id, request.params.item);
      if (!item) throw new ConversationNotFoundError("conversation item", request.params.item);
      return item.body;
    });
    app.delete<ItemParams>(`${base}/:id/items/:item`, async (request) => {
      const record = owned(request, request.params.id);
      if (!conversations.deleteItem(request.params.id, request.params.item))
        throw new ConversationNotFoundError("conversation item", request.params.item);
      return toConversationObject(conversations.get(record.id) ?? record);
    });
  }
}
