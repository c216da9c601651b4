import { type Dispatch, type SetStateAction, useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../api.js";
import { useApiKey } from "../apiKey.js";
import { loadConversations, saveConversations, saveOutbox, takeOutbox } from "../storage.js";
import type { Conversation, Message } from "../types.js";
import {
  addMessages,
  type ChatMetadata,
  createConversation,
  deleteConversation,
  deleteItem,
  isNotFound,
  type Listed,
  listConversations,
  loadMessages,
  metadataOf,
  type StoredMessage,
  storable,
  updateMetadata,
} from "./api.js";

/**
 * Where the chats are kept. `server`: the server's Conversations API, per API key, so every device with the
 * key sees them; `browser`: localStorage, on a server without that API; `pending`: not known yet (the page
 * keeps new chats in memory until it is, then stores them wherever that turns out to be).
 */
export type HistoryMode = "pending" | "server" | "browser";

/** What the server holds of a chat, as the page last wrote or read it. */
interface Synced {
  serverId: string;
  metadata: ChatMetadata;
  /** Its messages' items in order; undefined until they are fetched. */
  items?: { id: string; role: Message["role"]; text: string }[];
}

/** Chats whose messages are fetched at once (search, export). */
const LOAD_CONCURRENCY = 4;
/** After a failed write (offline, server busy), the next try. */
const RETRY_MS = 5000;

/**
 * Keeps `conversations` where the server lets it: lists the key's server conversations at start (and when the
 * key changes), fetches a chat's messages when it is opened, and after every change writes what differs from
 * what the server holds (a new chat, a title or its knowledge bases, messages added, or, after an edit or a
 * regenerate, the items from the first changed message on deleted and the new ones added). Writes are
 * serialized and never touch the chat an answer is streaming into (`busyId`) until the answer is done.
 */
export function useHistory(
  conversations: Conversation[],
  setConversations: Dispatch<SetStateAction<Conversation[]>>,
  busyId: string | undefined,
) {
  const key = useApiKey();
  const [mode, setMode] = useState<HistoryMode>("pending");
  /** Server mode: chats kept in this browser (from before), which the user may move to the server. */
  const [browserOnly, setBrowserOnly] = useState<Conversation[]>([]);
  const [moving, setMoving] = useState(false);
  const synced = useRef(new Map<string, Synced>());
  /** Server conversations of deleted chats, to delete. */
  const deleted = useRef(new Set<string>());
  const movingIds = useRef(new Set<string>());
  const loading = useRef(new Map<string, Promise<Message[] | undefined>>());
  const latest = useRef(conversations);
  latest.current = conversations;
  const busy = useRef(busyId);
  busy.current = busyId;
  const modeRef = useRef(mode);
  modeRef.current = mode;
  const keyRef = useRef(key);
  keyRef.current = key;

  // Which storage, and the server's list: at start and whenever the key changes.
  useEffect(() => {
    void key; // a new key is another owner, with other conversations
    let stopped = false;
    let timer = 0;
    const probe = async () => {
      let listed: Listed[] | undefined;
      try {
        listed = await listConversations();
      } catch (error) {
        // A missing or refused key: the key dialog asks for one, and a new key probes again.
        if (!stopped && !(error instanceof ApiError && error.error.kind === "auth"))
          timer = window.setTimeout(probe, 3000);
        return;
      }
      if (stopped) return;
      if (!listed) {
        const stored = loadConversations();
        setConversations((list) => [...list, ...stored.filter((c) => !list.some((l) => l.id === c.id))]);
        setMode("browser");
        return;
      }
      // What was not written before the page last closed: deletions to make, chats to write as they were here.
      const outbox = takeOutbox(ownerOf(key));
      for (const serverId of outbox?.deleted ?? []) deleted.current.add(serverId);
      const kept = listed.filter((l) => !deleted.current.has(l.serverId));
      const pending = new Map((outbox?.chats ?? []).map((c) => [c.id, c]));
      const before = synced.current;
      synced.current = new Map(
        kept.map((l) => [
          l.conversation.id,
          // A chat from the outbox is compared with the server's items, fetched when it is written.
          {
            serverId: l.serverId,
            metadata: l.metadata,
            items: l.conversation.unloaded || pending.has(l.conversation.id) ? undefined : [],
          },
        ]),
      );
      // Chats made here before the list came (or under the previous key, not yet written) are kept, to write.
      setConversations((list) => {
        const here = list.filter((c) => !before.has(c.id) && !synced.current.has(c.id));
        const server = kept.map((l) => pending.get(l.conversation.id) ?? l.conversation);
        const mine = new Set([...here, ...server].map((c) => c.id));
        return [...here, ...[...pending.values()].filter((c) => !mine.has(c.id)), ...server];
      });
      setBrowserOnly(loadConversations().filter((c) => !synced.current.has(c.id)));
      setMode("server");
    };
    void probe();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [key, setConversations]);

  // Browser storage, as before there was a server's: saving is debounced while an answer streams.
  useEffect(() => {
    if (mode !== "browser") return;
    const timer = setTimeout(() => saveConversations(conversations), busyId ? 1000 : 0);
    return () => clearTimeout(timer);
  }, [mode, conversations, busyId]);

  useEffect(() => {
    // Closing the tab mid-answer: keep what has streamed so far, and what the server does not have yet.
    const onHide = () => {
      if (modeRef.current === "browser") saveConversations(latest.current);
      if (modeRef.current === "server")
        saveOutbox({
          owner: ownerOf(keyRef.current),
          chats: latest.current.filter((c) => !isWritten(c, synced.current.get(c.id))),
          deleted: [...deleted.current],
        });
    };
    const onVisibility = () => document.visibilityState === "hidden" && onHide();
    // Another tab changed the chats: take its version unless we are mid-answer here.
    const onStorage = (event: StorageEvent) => {
      if (event.key === "edgellm.conversations.v1" && modeRef.current === "browser" && !busy.current)
        setConversations(loadConversations());
    };
    window.addEventListener("pagehide", onHide);
    document.addEventListener("visibilitychange", onVisibility);
    window.addEventListener("storage", onStorage);
    return () => {
      window.removeEventListener("pagehide", onHide);
      document.removeEventListener("visibilitychange", onVisibility);
      window.removeEventListener("storage", onStorage);
    };
  }, [setConversations]);

  /** Writes one chat's changes; throws what failed. */
  const syncOne = useCallback(async (c: Conversation) => {
    const known = synced.current.get(c.id);
    const wanted = storable(c.messages);
    if (!known) {
      if (c.unloaded) return;
      const metadata = metadataOf(c);
      const created = await createConversation(metadata, wanted.map(toStored));
      synced.current.set(c.id, {
        serverId: created.id,
        metadata,
        items: wanted.map((m, i) => ({ id: created.itemIds[i], role: m.role, text: m.content })),
      });
      if (movingIds.current.delete(c.id)) {
        // Moved: now on the server, so no longer in this browser.
        saveConversations(loadConversations().filter((b) => b.id !== c.id));
        setBrowserOnly((list) => list.filter((b) => b.id !== c.id));
      }
      return;
    }
    const metadata = metadataOf(c, known.metadata);
    if (JSON.stringify(metadata) !== JSON.stringify(known.metadata)) {
      await updateMetadata(known.serverId, metadata);
      known.metadata = metadata;
    }
    if (c.unloaded) return;
    known.items ??= (await loadMessages(known.serverId)).map((m) => ({
      id: m.id,
      role: m.role,
      text: m.content,
    }));
    const items = known.items;
    let same = 0;
    while (
      same < items.length &&
      same < wanted.length &&
      items[same].role === wanted[same].role &&
      items[same].text === wanted[same].content
    )
      same++;
    // From the end, so that what the server holds is always a prefix of what it held.
    while (items.length > same) {
      const item = items[items.length - 1];
      await deleteItem(known.serverId, item.id).catch((error: unknown) => {
        if (!isNotFound(error)) throw error;
      });
      items.pop();
    }
    if (wanted.length > same) {
      const ids = await addMessages(known.serverId, wanted.slice(same).map(toStored));
      items.push(...wanted.slice(same).map((m, i) => ({ id: ids[i], role: m.role, text: m.content })));
    }
  }, []);

  /** One pass over every chat; false when something could not be written (to try again later). */
  const syncAll = useCallback(async (): Promise<boolean> => {
    let ok = true;
    for (const serverId of [...deleted.current]) {
      try {
        await deleteConversation(serverId);
      } catch (error) {
        if (!isNotFound(error)) {
          ok = false;
          continue;
        }
      }
      deleted.current.delete(serverId);
    }
    for (const c of latest.current) {
      if (c.id === busy.current) continue;
      try {
        await syncOne(c);
      } catch (error) {
        if (!isNotFound(error)) {
          ok = false;
          continue;
        }
        // Deleted on another device (or expired): a chat open here is written again as a new conversation.
        synced.current.delete(c.id);
        if (c.unloaded) setConversations((list) => list.filter((l) => l.id !== c.id));
      }
    }
    return ok;
  }, [syncOne, setConversations]);

  const running = useRef(false);
  const again = useRef(false);
  const retry = useRef(0);
  const sync = useCallback(async () => {
    if (running.current) {
      again.current = true;
      return;
    }
    running.current = true;
    clearTimeout(retry.current);
    let ok = true;
    try {
      do {
        again.current = false;
        ok = await syncAll();
      } while (again.current);
    } finally {
      running.current = false;
    }
    if (!ok) retry.current = window.setTimeout(() => void sync(), RETRY_MS);
    // Everything is on the server: an outbox left by a hidden page that lived on must not be written again.
    else if (!busy.current) saveOutbox(undefined);
  }, [syncAll]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: every change of the chats (or an answer ending) is a reason to write.
  useEffect(() => {
    if (mode !== "server") return;
    const timer = setTimeout(() => void sync(), 0);
    return () => clearTimeout(timer);
  }, [mode, conversations, busyId, sync]);
  useEffect(() => () => clearTimeout(retry.current), []);

  /** A chat was deleted: so is its server conversation. */
  const forget = useCallback(
    (id: string) => {
      const known = synced.current.get(id);
      if (!known) return;
      synced.current.delete(id);
      deleted.current.add(known.serverId);
      void sync();
    },
    [sync],
  );

  /** Fetches a listed chat's messages (once; concurrent calls share the request). */
  const load = useCallback(
    (id: string): Promise<Message[] | undefined> => {
      const known = synced.current.get(id);
      if (!known || known.items) return Promise.resolve(undefined);
      const running = loading.current.get(id);
      if (running) return running;
      const request = loadMessages(known.serverId)
        .then((messages) => {
          known.items = messages.map((m) => ({ id: m.id, role: m.role, text: m.content }));
          setConversations((list) =>
            list.map((c) => {
              if (c.id !== id) return c;
              const { unloaded: _, ...rest } = c;
              return { ...rest, messages: messages.map((m) => ({ ...m, createdAt: c.createdAt })) };
            }),
          );
          return messages;
        })
        .catch((error: unknown) => {
          if (isNotFound(error)) {
            synced.current.delete(id);
            setConversations((list) => list.filter((c) => c.id !== id));
          }
          return undefined;
        })
        .finally(() => loading.current.delete(id));
      loading.current.set(id, request);
      return request;
    },
    [setConversations],
  );

  /** Every chat with its messages, fetching those not fetched yet (for search and export). */
  const loadAll = useCallback(async (): Promise<Conversation[]> => {
    const waiting = latest.current.filter((c) => c.unloaded).map((c) => c.id);
    const loaded = new Map<string, Message[]>();
    const worker = async () => {
      for (let id = waiting.shift(); id !== undefined; id = waiting.shift()) {
        const messages = await load(id);
        if (messages) loaded.set(id, messages);
      }
    };
    await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, worker));
    return latest.current.map((c) => {
      const messages = loaded.get(c.id);
      if (!messages) return c;
      const { unloaded: _, ...rest } = c;
      return { ...rest, messages };
    });
  }, [load]);

  /** Moves the chats kept in this browser to the server: each leaves browser storage once written there. */
  const moveToServer = useCallback(() => {
    const here = new Set(latest.current.map((c) => c.id));
    const chats = browserOnly.filter((b) => !here.has(b.id));
    if (chats.length < browserOnly.length) {
      // Already on the server (moved from another tab): only left to drop from this browser.
      saveConversations(loadConversations().filter((b) => !here.has(b.id)));
      setBrowserOnly(chats);
    }
    for (const c of chats) movingIds.current.add(c.id);
    setMoving(chats.length > 0);
    setConversations((list) => [...list, ...chats]);
  }, [browserOnly, setConversations]);
  useEffect(() => {
    if (browserOnly.length === 0) setMoving(false);
  }, [browserOnly]);

  return { mode, browserOnly: browserOnly.length, moving, moveToServer, forget, load, loadAll };
}

/** Whether the server holds `c` as it is here (as far as the page knows). */
function isWritten(c: Conversation, known: Synced | undefined): boolean {
  if (c.unloaded) return true;
  if (!known?.items) return false;
  if (JSON.stringify(metadataOf(c, known.metadata)) !== JSON.stringify(known.metadata)) return false;
  const wanted = storable(c.messages);
  return (
    wanted.length === known.items.length &&
    wanted.every((m, i) => known.items?.[i].role === m.role && known.items[i].text === m.content)
  );
}

/** Tells API keys apart without keeping a second copy of the key (FNV-1a). */
function ownerOf(key: string | undefined): string {
  if (key === undefined) return "";
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16);
}

function toStored(m: Message): StoredMessage {
  return {
    role: m.role,
    content: m.content,
    ...(m.role === "assistant" && m.stats ? { stats: m.stats } : {}),
    ...(m.role === "assistant" && m.citations ? { citations: m.citations } : {}),
  };
}
