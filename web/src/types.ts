/** The page's own data model: what is stored in the browser and shown. */

export type Role = "user" | "assistant";

/** How an answer was served, shown under it. */
export interface AnswerStats {
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  /** Completion tokens per second, from the first token to the last. */
  tokensPerSecond?: number;
  /** Milliseconds from sending to the first token. */
  firstTokenMs?: number;
  finishReason?: "stop" | "length" | "stopped" | "error";
  route?: string;
  routeReason?: string;
  cache?: string;
  /** Earlier messages left out of the request so that it fits the context window. */
  droppedMessages?: number;
}

/** A failed request, shown in place of (or after) an answer with a retry button. */
export interface AnswerError {
  /**
   * What the user is told. `busy`: no slot (queue full or timed out); `rateLimited`: this key's limit;
   * `loading`: the model is still loading; `unavailable`: another 503 (load failed, shutting down);
   * `auth`: a missing or wrong API key; `forbidden`: the server refused this page's origin or host.
   */
  kind:
    | "busy"
    | "rateLimited"
    | "loading"
    | "unavailable"
    | "auth"
    | "forbidden"
    | "offline"
    | "context"
    | "server";
  message: string;
  status?: number;
  /** The server's error code (`model_load_failed`, `host_not_allowed`, …), which refines the message. */
  code?: string;
  /** For `auth`: the request carried a key and it was refused (rather than no key at all). */
  keySent?: boolean;
  /** Seconds the server asked us to wait (Retry-After). */
  retryAfter?: number;
}

/** A passage an answer cites as `[index]`, from a knowledge base the chat uses; kept with the chat. */
export interface Citation {
  index: number;
  fileId: string;
  filename: string;
  /** The headings the passage sits under, outermost first. */
  headingPath: string[];
  text: string;
  /** 0..1, how close the passage was to the question. */
  score?: number;
  /** 0-based chunk number in its file. */
  chunkIndex?: number;
}

/** A knowledge base (vector store) a chat uses. The name is for the chips; the id is what is sent. */
export interface AttachedStore {
  id: string;
  name: string;
}

export interface Message {
  id: string;
  role: Role;
  content: string;
  createdAt: number;
  stats?: AnswerStats;
  error?: AnswerError;
  /** The passages the server gave with this answer (`[]`: the knowledge bases had nothing relevant). */
  citations?: Citation[];
}

export interface Conversation {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  messages: Message[];
  /** Knowledge bases this chat's questions search (`file_search`). */
  knowledge?: AttachedStore[];
  /** Listed by the server, its messages not fetched yet (they are when the chat is opened or searched). */
  unloaded?: boolean;
}

export interface Settings {
  systemPrompt: string;
  temperature: number;
  topP: number;
  /** Completion token cap; 0 means no cap (until the model stops or the context is full). */
  maxTokens: number;
  jsonMode: boolean;
  /** Advanced: keep generating past end-of-sequence (benchmarks, tests). */
  ignoreEos: boolean;
  /** Advanced: a fixed seed for reproducible answers; empty for random. */
  seed: string;
}

export type Theme = "system" | "light" | "dark";
export type Lang = "en" | "zh";

export const DEFAULT_SETTINGS: Settings = {
  systemPrompt: "",
  temperature: 0.7,
  topP: 0.95,
  maxTokens: 1024,
  jsonMode: false,
  ignoreEos: false,
  seed: "",
};

export function newId(): string {
  return crypto.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
