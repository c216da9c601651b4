import { type Conversation, DEFAULT_SETTINGS, type Lang, newId, type Settings, type Theme } from "./types.js";

/**
 * Persistence in localStorage: synchronous, survives reloads and browser restarts, and a few MB
 * hold thousands of chat turns. Keys are versioned so a format change can migrate.
 */
const KEYS = {
  conversations: "edgellm.conversations.v1",
  settings: "edgellm.settings.v1",
  prefs: "edgellm.prefs.v1",
  outbox: "edgellm.outbox.v1",
};

export interface Prefs {
  theme: Theme;
  lang?: Lang;
  activeId?: string;
}

function read<T>(key: string, fallback: T): T {
  try {
    const raw = localStorage.getItem(key);
    return raw == null ? fallback : (JSON.parse(raw) as T);
  } catch {
    return fallback;
  }
}

function write(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch (error) {
    // Quota exceeded or storage disabled (private mode): the chat still works, it just won't persist.
    console.warn("edgellm: could not save", key, error);
  }
}

export function loadConversations(): Conversation[] {
  const list = read<unknown>(KEYS.conversations, []);
  return Array.isArray(list) ? list.filter(isConversation) : [];
}

export function saveConversations(list: readonly Conversation[]): void {
  write(KEYS.conversations, list);
}

/**
 * History on the server: what the page had not written there yet when it was closed or hidden, to write at the
 * next start. `owner` tells the API keys apart (a hash, not the key), so one key's chats never go to another's.
 */
export interface Outbox {
  owner: string;
  chats: Conversation[];
  /** Server conversations of chats deleted here. */
  deleted: string[];
}

export function saveOutbox(outbox: Outbox | undefined): void {
  if (!outbox || (outbox.chats.length === 0 && outbox.deleted.length === 0)) {
    try {
      localStorage.removeItem(KEYS.outbox);
    } catch {
      // storage disabled: nothing was saved either
    }
  } else write(KEYS.outbox, outbox);
}

/** The outbox left for `owner`, removed from storage (another owner's is dropped). */
export function takeOutbox(owner: string): Outbox | undefined {
  const outbox = read<Outbox | undefined>(KEYS.outbox, undefined);
  saveOutbox(undefined);
  if (outbox?.owner !== owner || !Array.isArray(outbox.chats) || !Array.isArray(outbox.deleted))
    return undefined;
  return { owner, chats: outbox.chats.filter(isConversation), deleted: outbox.deleted.map(String) };
}

export function loadSettings(): Settings {
  return { ...DEFAULT_SETTINGS, ...read<Partial<Settings>>(KEYS.settings, {}) };
}

export function saveSettings(settings: Settings): void {
  write(KEYS.settings, settings);
}

export function loadPrefs(): Prefs {
  return { theme: "system", ...read<Partial<Prefs>>(KEYS.prefs, {}) };
}

export function savePrefs(prefs: Prefs): void {
  write(KEYS.prefs, prefs);
}

/** The export file: a versioned envelope around the conversations. */
export function exportJson(list: readonly Conversation[]): string {
  return JSON.stringify(
    {
      format: "edgellm.conversations",
      version: 1,
      exportedAt: new Date().toISOString(),
      conversations: list,
    },
    null,
    2,
  );
}

/**
 * Parses an export (or a bare array of conversations). Imported chats get fresh ids when an id is
 * already taken, so importing the same file twice duplicates rather than overwrites.
 */
export function parseImport(text: string, existing: ReadonlySet<string>): Conversation[] {
  const data = JSON.parse(text) as unknown;
  const list = Array.isArray(data) ? data : (data as { conversations?: unknown })?.conversations;
  if (!Array.isArray(list)) throw new Error("not an edgellm export");
  const valid = list.filter(isConversation);
  if (valid.length === 0 && list.length > 0) throw new Error("no conversations in file");
  return valid.map((c) => (existing.has(c.id) ? { ...c, id: newId() } : c));
}

function isConversation(value: unknown): value is Conversation {
  const c = value as Conversation;
  return (
    typeof c === "object" &&
    c !== null &&
    typeof c.id === "string" &&
    typeof c.title === "string" &&
    Array.isArray(c.messages) &&
    c.messages.every((m) => typeof m?.content === "string" && (m.role === "user" || m.role === "assistant"))
  );
}
