import { ApiError, authHeaders, toApiError } from "../api.js";
import { validCitations, validKnowledge } from "../kb/stored.js";
import type { AnswerStats, AttachedStore, Conversation, Message } from "../types.js";

/**
 * The server's Conversations API (OpenAI's, plus edgellm's `GET /v1/conversations` list), as the chat page
 * uses it to keep its history: one server conversation per chat, one message item per question and answer.
 * Wire shapes stay in this file; the rest of the page sees `Conversation` and `Message`.
 */

/** Items one request may add (the server's, and OpenAI's, limit). */
export const ITEMS_PER_REQUEST = 20;
/** Metadata values are at most 512 characters. */
const MAX_VALUE = 512;

interface WireConversation {
  id: string;
  created_at: number;
  updated_at?: number;
  metadata?: Record<string, string> | null;
  /** edgellm's list: how many items the conversation holds. */
  items?: number;
}

interface WirePart {
  type: string;
  text?: string;
  /** The page's own extras on an answer's part; the server keeps a part's fields as given. */
  edgellm?: { stats?: AnswerStats; citations?: unknown };
}

interface WireItem {
  id: string;
  type: string;
  role?: string;
  content?: WirePart[] | string;
}

/** What the page stores of a message: its role and text, and an answer's stats and citations. */
export interface StoredMessage {
  role: "user" | "assistant";
  content: string;
  stats?: AnswerStats;
  citations?: Message["citations"];
}

/** A conversation the server lists: the chat it holds (messages not fetched yet), its id and metadata. */
export interface Listed {
  conversation: Conversation;
  serverId: string;
  metadata: ChatMetadata;
}

/** Metadata of a chat: its title, the page's id for it, when it was made, and the knowledge bases it uses. */
export type ChatMetadata = Record<string, string>;

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers = authHeaders();
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError({ kind: "offline", message: "" });
  }
  if (!res.ok) throw await toApiError(res, "authorization" in headers);
  return (await res.json()) as T;
}

/**
 * Whether the server keeps conversations for this page's key: its conversations (most recently used first)
 * when it does, `undefined` when it has no such API (a 404, or an answer that is not the list, as from a proxy
 * or an older server). Throws what stops the page from knowing yet: offline, a missing key, a busy server.
 */
export async function listConversations(): Promise<Listed[] | undefined> {
  const headers = authHeaders();
  let res: Response;
  try {
    res = await fetch("v1/conversations?limit=1000", { headers });
  } catch {
    throw new ApiError({ kind: "offline", message: "" });
  }
  if (res.status === 401 || res.status === 429 || res.status >= 500)
    throw await toApiError(res, "authorization" in headers);
  if (!res.ok) return undefined;
  const body = (await res.json().catch(() => undefined)) as { data?: unknown } | undefined;
  if (!Array.isArray(body?.data)) return undefined;
  return (body.data as WireConversation[]).filter((c) => typeof c?.id === "string").map(fromWire);
}

/** All of a conversation's messages, oldest first, 100 items a page. */
export async function loadMessages(serverId: string): Promise<Message[]> {
  const messages: Message[] = [];
  let after: string | undefined;
  for (;;) {
    const query = new URLSearchParams({ order: "asc", limit: "100", ...(after ? { after } : {}) });
    const page = await call<{ data: WireItem[]; has_more?: boolean; last_id?: string | null }>(
      "GET",
      `v1/conversations/${encodeURIComponent(serverId)}/items?${query}`,
    );
    for (const item of page.data) {
      const message = toMessage(item);
      if (message) messages.push(message);
    }
    if (!page.has_more || !page.last_id) return messages;
    after = page.last_id;
  }
}

/** Makes a conversation holding `messages`; returns its id and their item ids. */
export async function createConversation(
  metadata: ChatMetadata,
  messages: readonly StoredMessage[],
): Promise<{ id: string; itemIds: string[] }> {
  // Made empty, then filled: adding items answers with their ids, making a conversation does not.
  const created = await call<{ id: string }>("POST", "v1/conversations", { metadata });
  return { id: created.id, itemIds: await addMessages(created.id, messages) };
}

/** Appends messages, `ITEMS_PER_REQUEST` a request; returns their item ids in order. */
export async function addMessages(serverId: string, messages: readonly StoredMessage[]): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < messages.length; i += ITEMS_PER_REQUEST) {
    const added = await call<{ data: WireItem[] }>(
      "POST",
      `v1/conversations/${encodeURIComponent(serverId)}/items`,
      { items: messages.slice(i, i + ITEMS_PER_REQUEST).map(toItem) },
    );
    ids.push(...added.data.map((item) => item.id));
  }
  return ids;
}

export async function deleteItem(serverId: string, itemId: string): Promise<void> {
  await call(
    "DELETE",
    `v1/conversations/${encodeURIComponent(serverId)}/items/${encodeURIComponent(itemId)}`,
  );
}

export async function updateMetadata(serverId: string, metadata: ChatMetadata): Promise<void> {
  await call("POST", `v1/conversations/${encodeURIComponent(serverId)}`, { metadata });
}

export async function deleteConversation(serverId: string): Promise<void> {
  await call("DELETE", `v1/conversations/${encodeURIComponent(serverId)}`);
}

/** Whether an error means the conversation (or item) is not on the server (deleted elsewhere, or expired). */
export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.error.status === 404;
}

/** The metadata keys the page writes; a conversation's other keys (another client's) are kept. */
const PAGE_KEYS = ["title", "client_id", "created_at", "knowledge"];

/**
 * A chat's metadata, over what the server has (`current`): every value a string of at most 512 characters.
 */
export function metadataOf(conversation: Conversation, current: ChatMetadata = {}): ChatMetadata {
  const others = Object.fromEntries(Object.entries(current).filter(([key]) => !PAGE_KEYS.includes(key)));
  const knowledge = validKnowledge(conversation.knowledge);
  // A long list of stores keeps as many as fit; the names are for the chips only.
  while (knowledge.length > 0 && JSON.stringify(knowledge).length > MAX_VALUE) knowledge.pop();
  return {
    ...others,
    title: conversation.title.slice(0, MAX_VALUE),
    client_id: conversation.id.slice(0, MAX_VALUE),
    created_at: String(conversation.createdAt),
    ...(knowledge.length > 0 ? { knowledge: JSON.stringify(knowledge) } : {}),
  };
}

function fromWire(c: WireConversation): Listed {
  const metadata = c.metadata ?? {};
  const createdAt = Number(metadata.created_at) || c.created_at * 1000;
  const knowledge = parseKnowledge(metadata.knowledge);
  const conversation: Conversation = {
    id: metadata.client_id || c.id,
    title: metadata.title ?? "",
    createdAt,
    updatedAt: (c.updated_at ?? c.created_at) * 1000,
    messages: [],
    ...((c.items ?? 1) > 0 ? { unloaded: true } : {}),
    ...(knowledge.length > 0 ? { knowledge } : {}),
  };
  return { conversation, serverId: c.id, metadata };
}

function parseKnowledge(value: string | undefined): AttachedStore[] {
  if (!value) return [];
  try {
    return validKnowledge(JSON.parse(value));
  } catch {
    return [];
  }
}

/** The messages of a chat that the server keeps: questions, and answers that have text and did not fail. */
export function storable(messages: readonly Message[]): Message[] {
  return messages.filter((m) => m.role === "user" || (m.content !== "" && !m.error));
}

function toItem(message: StoredMessage) {
  if (message.role === "user")
    return { type: "message", role: "user", content: [{ type: "input_text", text: message.content }] };
  const extras = {
    ...(message.stats ? { stats: message.stats } : {}),
    ...(message.citations ? { citations: message.citations } : {}),
  };
  return {
    type: "message",
    role: "assistant",
    content: [
      {
        type: "output_text",
        text: message.content,
        annotations: [],
        ...(Object.keys(extras).length > 0 ? { edgellm: extras } : {}),
      },
    ],
  };
}

/** A stored item as a message; items the page does not show (system messages, tool calls) are skipped. */
function toMessage(item: WireItem): Message | undefined {
  if (item.type !== "message" || (item.role !== "user" && item.role !== "assistant")) return undefined;
  const parts =
    typeof item.content === "string" ? [{ type: "text", text: item.content }] : (item.content ?? []);
  const extras = parts.find((p) => p.edgellm)?.edgellm;
  const citations = extras?.citations === undefined ? undefined : validCitations(extras.citations);
  return {
    id: item.id,
    role: item.role,
    content: parts.map((p) => (typeof p.text === "string" ? p.text : "")).join(""),
    createdAt: 0,
    ...(extras?.stats && typeof extras.stats === "object" ? { stats: extras.stats } : {}),
    ...(citations ? { citations } : {}),
  };
}
