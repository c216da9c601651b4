import { bool, int, type Setting, setting, text } from "./setting.js";

/** The value of `--state-file` that keeps all state in memory. */
export const STATE_FILE_OFF = "off";

/** The state file (what survives a restart), the FAQ answer cache and the knowledge base's bounds. */
export const STATE_SETTINGS = {
  stateFile: setting({
    flag: "--state-file <path>",
    env: "EDGELLM_STATE_FILE",
    default: undefined,
    defaultText: "`$EDGELLM_HOME/state.sqlite`",
    help: "SQLite file for state that survives a restart (answer caches, cloud spend, key usage), or 'off' to keep it in memory",
    doc: "SQLite file holding what survives a restart: the response and FAQ caches, the day's cloud spend, per-key token usage; `off` keeps them in memory. One server per file. See [State that survives a restart](#state-that-survives-a-restart)",
    parse: text,
  }),
  faqCache: setting({
    flag: "--faq-cache",
    env: "EDGELLM_FAQ_CACHE",
    default: false,
    help: "answer repeated first-turn questions from the FAQ cache, at any temperature",
    doc: "answer a repeated first-turn question (same system prompt, any spelling that normalizes alike) from the FAQ cache at any temperature; per request `x-edgellm-cache: prefer\\|bypass`",
    parse: bool,
  }),
  faqTtl: setting({
    flag: "--faq-ttl <seconds>",
    env: "EDGELLM_FAQ_TTL",
    default: 86_400,
    unit: "seconds",
    help: "how long a FAQ answer is served (0: until evicted)",
    doc: "seconds a FAQ answer is served before it is asked afresh (0: until evicted)",
    parse: int(0),
  }),
  faqCacheSize: setting({
    flag: "--faq-cache-size <MiB>",
    env: "EDGELLM_FAQ_CACHE_SIZE",
    default: 16,
    unit: "MiB",
    help: "bytes of FAQ answers kept (oldest-used evicted first)",
    doc: "MiB of FAQ answers kept; the least recently used go first",
    parse: int(1),
  }),
  faqCacheCloud: setting({
    flag: "--faq-cache-cloud",
    env: "EDGELLM_FAQ_CACHE_CLOUD",
    default: false,
    help: "also keep upstreams' answers in the FAQ cache (check your provider's terms)",
    doc: "also keep answers that came from an upstream in the FAQ cache (off: only local answers; some providers' terms forbid storing)",
    parse: bool,
  }),
  kbMaxFileSize: setting({
    flag: "--kb-max-file-size <MiB>",
    env: "EDGELLM_KB_MAX_FILE_SIZE",
    default: 50,
    unit: "MiB",
    help: "largest file POST /v1/files accepts for the knowledge base",
    doc: "MiB: the largest file `POST /v1/files` accepts (413 `file_too_large` past it). See [Knowledge base](knowledge-base.md)",
    parse: int(1),
  }),
  kbMaxStorage: setting({
    flag: "--kb-max-storage <MiB>",
    env: "EDGELLM_KB_MAX_STORAGE",
    default: 2048,
    unit: "MiB",
    help: "files and indexes one API key may keep in the knowledge base",
    doc: "MiB of uploaded files and their chunks one API key (or, without keys, the one owner) may keep (413 `storage_limit_exceeded` past it)",
    parse: int(1),
  }),
} satisfies Record<string, Setting<unknown>>;
