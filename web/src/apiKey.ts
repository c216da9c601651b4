import { useSyncExternalStore } from "react";

/**
 * The API key the page sends as `Authorization: Bearer …`. It comes from the access URL the server
 * prints (`/#key=…`, like Jupyter's token) or from the key dialog, and is kept in localStorage so a
 * reload or a new tab needs no new link. The value is never logged, never rendered, and only sent with
 * the page's own same-origin requests (api.ts uses relative URLs).
 */
const STORAGE_KEY = "edgellm.apiKey.v1";

/** Used when localStorage is unavailable (disabled, or a private window that refuses writes). */
let memoryKey: string | undefined;
const listeners = new Set<() => void>();

/**
 * A header value may hold only visible ASCII here: fetch() throws on a line break or a character
 * outside Latin-1, which would look like an unreachable server rather than a bad key.
 */
export function isValidKey(key: string): boolean {
  return /^[\x21-\x7e]{1,4096}$/.test(key);
}

export function getApiKey(): string | undefined {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    // storage disabled: fall back to this tab's memory
  }
  const key = stored ?? memoryKey;
  return key !== undefined && isValidKey(key) ? key : undefined;
}

/** Saves a key (or forgets it with `undefined`) and tells every subscriber. */
export function setApiKey(key: string | undefined): void {
  memoryKey = key;
  try {
    if (key === undefined) localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, key);
  } catch {
    // kept in memory for this tab; deliberately not logged, the message could carry the key
  }
  notify();
}

function notify(): void {
  for (const listener of listeners) listener();
}

// Another tab saved or forgot the key.
const onStorage = (event: StorageEvent) => {
  if (event.key === STORAGE_KEY || event.key === null) notify();
};
// An access URL pasted into an open tab only changes the fragment: the page does not reload.
const onHashChange = () => void takeKeyFromUrl();

function subscribe(listener: () => void): () => void {
  if (listeners.size === 0) {
    window.addEventListener("storage", onStorage);
    window.addEventListener("hashchange", onHashChange);
  }
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
    if (listeners.size > 0) return;
    window.removeEventListener("storage", onStorage);
    window.removeEventListener("hashchange", onHashChange);
  };
}

/** The current key, re-rendering when it changes here or in another tab. */
export function useApiKey(): string | undefined {
  return useSyncExternalStore(subscribe, getApiKey);
}

/**
 * Takes `key=…` out of the URL fragment, saves it, and rewrites the address without it
 * (`history.replaceState`, so the key is neither left on screen nor in the history, and a bookmark
 * made afterwards does not hold it). The fragment is never sent to the server, so the key does not
 * reach its logs either. Other fragment parameters are kept. Returns whether a key was taken.
 */
export function takeKeyFromUrl(): boolean {
  const hash = window.location.hash.replace(/^#/, "");
  if (hash === "") return false;
  const parts = hash.split("&");
  const index = parts.findIndex((part) => part.startsWith("key="));
  if (index < 0) return false;
  const [part] = parts.splice(index, 1);
  const rest = parts.join("&");
  const { pathname, search } = window.location;
  window.history.replaceState(window.history.state, "", `${pathname}${search}${rest ? `#${rest}` : ""}`);
  // Not URLSearchParams: it would turn a "+" in the key into a space.
  const key = safeDecode(part.slice(4)).trim();
  if (!isValidKey(key)) return false;
  setApiKey(key);
  return true;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
