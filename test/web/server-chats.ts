/** The server's conversations, as the chat page keeps its history there: to seed, read and clear them in tests. */

export interface SeedChat {
  id: string;
  title: string;
  createdAt: number;
  messages: { role: string; content: string; stats?: object }[];
}

export interface ServerItem {
  role: string;
  text: string;
  /** What the page stored with an answer (its stats and citations). */
  extras?: { stats?: Record<string, unknown>; citations?: unknown[] };
}

export interface ServerChat {
  id: string;
  metadata: Record<string, string>;
  items: ServerItem[];
}

async function call<T>(url: string, key: string | undefined, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Makes the chats as the page would have written them (title, the page's id, stats with each answer). */
export async function seedServerChats(url: string, key: string | undefined, chats: readonly SeedChat[]) {
  // Oldest first: the server lists the most recently used first.
  for (const chat of [...chats].reverse()) {
    const { id } = await call<{ id: string }>(url, key, "POST", "/v1/conversations", {
      metadata: { title: chat.title, client_id: chat.id, created_at: String(chat.createdAt) },
    });
    if (chat.messages.length === 0) continue;
    await call(url, key, "POST", `/v1/conversations/${id}/items`, {
      items: chat.messages.map((m) =>
        m.role === "user"
          ? { type: "message", role: "user", content: [{ type: "input_text", text: m.content }] }
          : {
              type: "message",
              role: "assistant",
              content: [
                {
                  type: "output_text",
                  text: m.content,
                  annotations: [],
                  ...(m.stats ? { edgellm: { stats: m.stats } } : {}),
                },
              ],
            },
      ),
    });
  }
}

/** The key's conversations, most recently used first, with their items oldest first. */
export async function serverChats(url: string, key?: string): Promise<ServerChat[]> {
  const list = await call<{ data: { id: string; metadata: Record<string, string> }[] }>(
    url,
    key,
    "GET",
    "/v1/conversations?limit=1000",
  );
  const chats: ServerChat[] = [];
  for (const c of list.data) {
    const items = await call<{
      data: { role: string; content: { text: string; edgellm?: ServerItem["extras"] }[] }[];
    }>(url, key, "GET", `/v1/conversations/${c.id}/items?order=asc&limit=100`);
    chats.push({
      id: c.id,
      metadata: c.metadata,
      items: items.data.map((i) => ({
        role: i.role,
        text: i.content.map((p) => p.text).join(""),
        ...(i.content[0]?.edgellm ? { extras: i.content[0].edgellm } : {}),
      })),
    });
  }
  return chats;
}

/** Deletes every conversation of the key, so that a test starts with none. */
export async function clearServerChats(url: string, key?: string): Promise<void> {
  const list = await call<{ data: { id: string }[] }>(url, key, "GET", "/v1/conversations?limit=1000");
  for (const c of list.data) await call(url, key, "DELETE", `/v1/conversations/${c.id}`);
}

/** Polls until `check` passes (it throws until then), for what the page writes a moment after the screen shows it. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
