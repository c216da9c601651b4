import { ENGINE_SETTINGS } from "./engine-settings.js";
import { HUB_SETTINGS } from "./hub-settings.js";
import { ROUTING_SETTINGS } from "./routing-settings.js";
import { bool, choice, commaList, int, type Setting, setting, text } from "./setting.js";
import { STATE_SETTINGS } from "./state-settings.js";

/**
 * Every setting of `edgellm serve`, and the variables other commands read: each defined once. `--help`
 * (src/cli/setting-options.ts) and the README's configuration table (`npm run docs`, docs.ts) come from
 * here. Precedence: flag > variable > config file (`--config`, for settings with `file`) > default.
 */

/** The model served when none is named. */
export const DEFAULT_MODEL = "qwen2.5-0.5b-instruct:q4_k_m";
/** Hubs models are downloaded from. */
export const MODEL_SOURCES = ["huggingface", "modelscope"] as const;
export type ModelSource = (typeof MODEL_SOURCES)[number];
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const SETTINGS = {
  model: setting({
    flag: "-m, --model <model>",
    env: "EDGELLM_MODEL",
    default: DEFAULT_MODEL,
    help: "a GGUF file (./file.gguf) or a model ref (name[:quant], hf:owner/repo/file.gguf); downloaded if missing",
    doc: "a GGUF path (`./x.gguf`, absolute) or a model ref; refs are downloaded if missing",
    parse: text,
  }),
  host: setting({
    flag: "--host <host>",
    env: "EDGELLM_HOST",
    default: "127.0.0.1",
    help: "interface to bind (0.0.0.0 for the LAN)",
    doc: "interface to bind (`0.0.0.0` for the LAN)",
    parse: text,
  }),
  port: setting({
    flag: "--port <port>",
    env: "EDGELLM_PORT",
    default: 8080,
    help: "TCP port (0 picks a free one)",
    doc: "TCP port; `0` picks a free one",
    parse: int(0, 65535),
  }),
  ctxSize: setting({
    flag: "-c, --ctx-size <tokens>",
    env: "EDGELLM_CTX_SIZE",
    default: 4096,
    unit: "tokens",
    help: "context window per slot, in tokens",
    parse: int(64),
  }),
  threads: setting({
    flag: "-t, --threads <n>",
    env: "EDGELLM_THREADS",
    default: undefined,
    defaultText: "every core",
    help: "CPU threads for evaluation",
    parse: int(1),
  }),
  parallel: setting({
    flag: "-P, --parallel <n>",
    env: "EDGELLM_PARALLEL",
    default: 4,
    help: "parallel slots, decoded together in one batch",
    doc: "parallel slots: sequences in one llama.cpp context, decoded together in one batch",
    parse: int(1, 64),
  }),
  contextOverflow: setting({
    flag: "--context-overflow <policy>",
    env: "EDGELLM_CONTEXT_OVERFLOW",
    default: "error" as "error" | "truncate",
    help: "a chat too long for the context: refuse it (error, 400) or drop its oldest turns (truncate)",
    doc: "a chat too long for the local model's context: `error` refuses it with 400 `context_length_exceeded`; `truncate` drops its oldest whole turns (never the system messages, the tools or the latest turn) and says so in an `x-edgellm-truncated` header. A request overrides it with the `x-edgellm-context-overflow` header, and the Responses API with `truncation`. See [Long conversations](api.md#long-conversations)",
    parse: choice(["error", "truncate"] as const),
  }),
  historyBudget: setting({
    flag: "--history-budget <tokens>",
    env: "EDGELLM_HISTORY_BUDGET",
    default: 0,
    help: "most tokens of earlier turns a chat keeps (its oldest whole turns go first); 0: no bound",
    doc: "most tokens of a chat's earlier turns given to the local model (a small model answers better from a short history): the oldest whole turns go first, as with `--context-overflow truncate`, and the `x-edgellm-truncated` header says so; `0` keeps them all",
    parse: int(0),
  }),
  maxQueue: setting({
    flag: "--max-queue <n>",
    env: "EDGELLM_MAX_QUEUE",
    default: 64,
    help: "requests allowed to wait for a slot before 429",
    doc: "requests that may wait for a slot; one more gets 429 with `Retry-After` at once",
    parse: int(0),
  }),
  queueTimeout: setting({
    flag: "--queue-timeout <seconds>",
    env: "EDGELLM_QUEUE_TIMEOUT",
    default: 120,
    unit: "seconds",
    help: "longest wait for a slot before 503 (0: forever)",
    doc: "seconds a request may wait for a slot before 503 `queue_timeout` (0: forever)",
    parse: int(0),
  }),
  bodyTimeout: setting({
    flag: "--body-timeout <seconds>",
    env: "EDGELLM_BODY_TIMEOUT",
    default: 30,
    unit: "seconds",
    help: "longest wait for a request's headers and body before 408 (0: forever); answers are never cut",
    doc: "seconds for a request's headers and body to arrive before 408 `request_timeout` (0: forever); an answer, however long, is never cut",
    parse: int(0),
  }),
  cacheSize: setting({
    flag: "--cache-size <MiB>",
    env: "EDGELLM_CACHE_SIZE",
    default: 64,
    unit: "MiB",
    help: "memory for the response cache of deterministic requests",
    doc: "MiB of answers kept by the response cache",
    parse: int(0),
  }),
  responseCache: setting({
    flag: "--no-response-cache",
    env: "EDGELLM_RESPONSE_CACHE",
    negated: true,
    default: true,
    help: "turn the response cache off",
    doc: "`--no-response-cache` or `EDGELLM_RESPONSE_CACHE=0` turns the response cache off",
    parse: bool,
  }),
  lookupDecoding: setting({
    flag: "--lookup-decoding",
    env: "EDGELLM_LOOKUP_DECODING",
    default: false,
    help: "speculative decoding by prompt lookup (helps answers that copy their input)",
    doc: "speculative decoding by prompt lookup (n-gram drafts from the prompt)",
    parse: bool,
  }),
  mmap: setting({
    flag: "--mmap",
    env: "EDGELLM_MMAP",
    default: false,
    help: "memory-map the model file instead of reading it (reading uses less memory once weights are repacked)",
    doc: "memory-map the model file instead of reading it (reading uses less memory, since llama.cpp repacks the weights for the CPU anyway)",
    parse: bool,
  }),
  source: setting({
    flag: "--source <source>",
    env: "EDGELLM_MODEL_SOURCE",
    default: "huggingface" as ModelSource,
    help: `hub for downloads (${MODEL_SOURCES.join(", ")})`,
    doc: "where downloads come from: `huggingface` or `modelscope`",
    parse: choice(MODEL_SOURCES),
  }),
  logLevel: setting({
    flag: "--log-level <level>",
    env: "EDGELLM_LOG_LEVEL",
    default: "info" as (typeof LOG_LEVELS)[number],
    help: `HTTP log level (${LOG_LEVELS.join(", ")})`,
    doc: "`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`",
    parse: choice(LOG_LEVELS),
  }),
  shutdownGrace: setting({
    flag: "--shutdown-grace <seconds>",
    env: "EDGELLM_SHUTDOWN_GRACE",
    default: 10,
    unit: "seconds",
    help: "on SIGTERM/SIGINT, how long requests in flight may finish before they are cut short",
    doc: "seconds requests in flight may run on after SIGTERM/SIGINT before they are cut short with 503 `shutting_down`",
    // A day is plenty, and keeps the timer below setTimeout's limit of 24.8 days.
    parse: int(0, 86_400),
  }),
  apiKey: setting({
    secret: true,
    flag: "--api-key <key[,key...]>",
    env: "EDGELLM_API_KEY",
    repeatable: true,
    default: [] as string[],
    help: "an API key clients must send (Authorization: Bearer KEY); repeatable. Visible to `ps`: prefer the file",
    doc: "keys clients must send (`Authorization: Bearer KEY` or `x-api-key: KEY`), repeatable, comma-separated in the variable; a flag is visible to `ps`, so prefer the variable or the file. See [Security](security.md)",
    parse: commaList,
  }),
  apiKeyFile: setting({
    flag: "--api-key-file <file>",
    env: "EDGELLM_API_KEY_FILE",
    default: undefined,
    help: "API keys, one a line: [LABEL:] KEY [rpm=N] [tpd=N]; # comments",
    doc: "keys one a line: `[LABEL:] KEY [rpm=N] [tpd=N]`, `#` comments",
    parse: text,
  }),
  auth: setting({
    flag: "--no-auth",
    // No variable, on purpose: opening the API to the network must be typed on the command line.
    negated: true,
    default: true,
    help: "serve a non-loopback --host without any API key (anyone who reaches it may use it)",
    doc: "serve a non-loopback `--host` without any key (no variable, on purpose)",
    parse: bool,
  }),
  publicMetrics: setting({
    flag: "--public-metrics",
    env: "EDGELLM_PUBLIC_METRICS",
    default: false,
    help: "serve GET /metrics without an API key (for Prometheus or an inference gateway's endpoint picker)",
    doc: "serve `GET /metrics` without an API key, for Prometheus or the Gateway API Inference Extension's endpoint picker, which scrape without credentials; it shows counts, latencies and key labels, never keys or prompts (the `Host` check still applies)",
    parse: bool,
  }),
  corsOrigins: setting({
    flag: "--cors-origins <origin[,origin...]>",
    env: "EDGELLM_CORS_ORIGINS",
    repeatable: true,
    default: [] as string[],
    help: "web pages (scheme://host[:port], *.domain and :* allowed; '*' for any) that may call the API besides its own and localhost",
    doc: "web pages that may call the API besides its own and loopback ones: `https://app.example.com`, `http://host:*`, `https://*.example.com`, `*` (any but `null`), `null`",
    parse: commaList,
  }),
  allowedHosts: setting({
    flag: "--allowed-hosts <host[,host...]>",
    env: "EDGELLM_ALLOWED_HOSTS",
    repeatable: true,
    default: [] as string[],
    help: "Host names answered besides localhost and loopback addresses (.domain for subdomains; '*' for any)",
    doc: "`Host` names answered besides `localhost` and loopback addresses: `llm.example.com`, `.example.com` (its subdomains), `*` (any)",
    parse: commaList,
  }),
  keyRpm: setting({
    flag: "--key-rpm <n>",
    env: "EDGELLM_KEY_RPM",
    default: 0,
    help: "generation requests per API key per minute (0: no limit)",
    doc: "generation requests per API key per minute (sliding window; 0: no limit)",
    parse: int(0),
  }),
  keyTpd: setting({
    flag: "--key-tpd <n>",
    env: "EDGELLM_KEY_TPD",
    default: 0,
    help: "prompt + completion tokens per API key per day (0: no limit)",
    doc: "prompt + completion tokens per API key per day, until local midnight (0: no limit)",
    parse: int(0),
  }),
  ...ENGINE_SETTINGS,
  ...ROUTING_SETTINGS,
  ...STATE_SETTINGS,
  ...HUB_SETTINGS,
} satisfies Record<string, Setting<unknown>>;

export type SettingName = keyof typeof SETTINGS;
/** The value type of each setting; `undefined` where it has no default. */
export type SettingValues = {
  [K in SettingName]: (typeof SETTINGS)[K] extends Setting<infer T, infer D> ? T | D : never;
};
