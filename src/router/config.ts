import { readFile } from "node:fs/promises";
import { z } from "zod";
import type { ModelAliases } from "../config/model-aliases.js";
import { ConfigError } from "../config/setting.js";
import { SETTINGS, type SettingValues } from "../config/settings.js";

export { ConfigError };

/**
 * Routing configuration: a JSON file (`--config FILE` / EDGELLM_CONFIG), environment variables and
 * flags, in rising precedence. Validated with zod; every problem is reported with its path. The settings
 * with a flag or a fixed variable name come resolved from src/config/; this file reads only the variables
 * whose names are made from an upstream's (`EDGELLM_UPSTREAM_<NAME>_*`).
 */

const NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const RESERVED = new Set(["local", "auto"]);

const url = z.url({ protocol: /^https?$/ });
const ms = z.number().int().min(0);

const upstreamSchema = z.strictObject({
  /** One base URL, or several replicas serving the same model. */
  baseUrl: z.union([url, z.array(url).min(1)]),
  /** The key itself; prefer apiKeyEnv or EDGELLM_UPSTREAM_<NAME>_API_KEY so it stays out of files. */
  apiKey: z.string().min(1).optional(),
  /** Name of the environment variable holding the key. */
  apiKeyEnv: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  connectTimeoutMs: ms.min(1).optional(),
  firstByteTimeoutMs: ms.min(1).optional(),
  /** The former name of firstByteTimeoutMs, still accepted. */
  timeoutMs: ms.min(1).optional(),
  idleTimeoutMs: ms.min(1).optional(),
  fallbackAfterMs: ms.min(1).optional(),
  retries: z.number().int().min(0).max(5).optional(),
  retryBackoffMs: ms.optional(),
  /** Currency units per 1,000 tokens. */
  price: z.strictObject({ input: z.number().min(0), output: z.number().min(0) }).optional(),
  contextSize: z.number().int().min(1).optional(),
  healthCheckMs: ms.optional(),
});

// In the file the base URL may be left to --upstream or EDGELLM_UPSTREAM_<NAME>_BASE_URL.
const fileUpstreamSchema = upstreamSchema.partial({ baseUrl: true });

// How to talk to any upstream, for those that do not say.
const upstreamDefaultsSchema = upstreamSchema.pick({
  connectTimeoutMs: true,
  firstByteTimeoutMs: true,
  idleTimeoutMs: true,
  fallbackAfterMs: true,
  retries: true,
  retryBackoffMs: true,
});
type UpstreamDefaults = z.infer<typeof upstreamDefaultsSchema>;

const fileSchema = z.strictObject({
  $schema: z.string().optional(),
  defaultModel: z.string().min(1).optional(),
  cloud: z.boolean().optional(),
  upstreams: z
    .record(
      z.string().regex(NAME, "an upstream name starts with a letter and uses letters, digits, _ . -"),
      fileUpstreamSchema,
    )
    .optional(),
  upstreamDefaults: upstreamDefaultsSchema.optional(),
  auto: z
    .strictObject({ threshold: z.number().min(0).max(1).optional(), upstream: z.string().optional() })
    .optional(),
  cascade: z
    .strictObject({ enabled: z.boolean().optional(), threshold: z.number().min(0).max(1).optional() })
    .optional(),
  overflow: z.boolean().optional(),
  breaker: z
    .strictObject({ failures: z.number().int().min(1).optional(), cooldownMs: ms.optional() })
    .optional(),
  budget: z.strictObject({ daily: z.number().min(0), currency: z.string().optional() }).optional(),
  redact: z.boolean().optional(),
  modelAliases: z.record(z.string().min(1), z.string().min(1)).optional(),
});

export type RoutingFile = z.infer<typeof fileSchema>;

export interface UpstreamConfig {
  /** How clients select it (`model: "<name>"`) and how responses report it. */
  name: string;
  /** One or more OpenAI-compatible base URLs ending in /v1 (or wherever /chat/completions lives). */
  baseUrls: string[];
  /** Never logged nor returned. */
  apiKey?: string;
  /** The model id sent upstream. Default: the upstream's name. */
  model: string;
  /** Time allowed to open a new connection (DNS, TCP, TLS), in ms. Default 3000. */
  connectTimeoutMs: number;
  /**
   * Time allowed from sending the request to the first generated text, per attempt, in ms; headers,
   * role-only and keep-alive chunks do not count. Default 10000.
   */
  firstByteTimeoutMs: number;
  /** Time allowed between two chunks once text is streaming, in ms. Default 30000. */
  idleTimeoutMs: number;
  /**
   * The whole wait for the first text over every attempt and backoff, after which the request falls
   * back to local, in ms. Default: firstByteTimeoutMs.
   */
  fallbackAfterMs: number;
  /** Retries of a retryable failure before any text was received. Default 1. */
  retries: number;
  /** First retry delay, doubled each time, with jitter, in ms. Default 250. */
  retryBackoffMs: number;
  /** Currency units per 1,000 input and output tokens. Default 0 and 0. */
  price: { input: number; output: number };
  /**
   * Context window, in tokens, reported in /v1/models. Default: what the upstream's GET /models says
   * (vLLM's `max_model_len`, OpenRouter's `context_length`, llama-server's `n_ctx`...), else 32768.
   */
  contextSize?: number;
  /** Health-check period in ms, 0 for none. Default 10000 with several base URLs, else 0. */
  healthCheckMs: number;
}

export interface RoutingConfig {
  /** The route for requests naming no model: "local", "auto" or an upstream. Default "local". */
  defaultModel: string;
  /** false forbids every upstream (privacy). Default true. */
  cloud: boolean;
  upstreams: UpstreamConfig[];
  /** "auto" routing: difficulty threshold (default 0.5) and target upstream (default: the first). */
  auto: { threshold: number; upstream?: string };
  /** Answer locally first and escalate low-confidence answers. Default off, threshold 0.6. */
  cascade: { enabled: boolean; threshold: number };
  /** Send requests to an upstream when the local queue is full. Default true. */
  overflow: boolean;
  /** Consecutive failures that open an upstream replica's circuit (default 3), and its cooldown (30000 ms). */
  breaker: { failures: number; cooldownMs: number };
  /** Daily cloud spend, in the prices' currency, after which requests stay local. Default: none. */
  budget?: { daily: number; currency: string };
  /** Redact e-mail addresses, phone and ID numbers before a request leaves the machine. Default false. */
  redact: boolean;
  /** Other names for served models (`gpt-4o` -> `local`), FROM -> TO. Default: none. */
  aliases: ModelAliases;
}

/** The routing settings of src/config/ that the file can carry too. */
export type RoutingSettings = Pick<
  SettingValues,
  | "cloud"
  | "defaultModel"
  | "routeThreshold"
  | "cascade"
  | "redact"
  | "cloudDailyBudget"
  | "upstreamConnectTimeout"
  | "upstreamFirstByteTimeout"
  | "upstreamIdleTimeout"
  | "modelAlias"
>;

export interface RoutingSources {
  /** Path of a JSON config file. */
  file?: string;
  /** `--upstream NAME=URL[,URL...]` values. */
  upstreams?: string[];
  /** What a flag or variable gave (src/config/ `given`): each wins over the file, which wins over defaults. */
  settings?: Partial<RoutingSettings>;
  /** For `EDGELLM_UPSTREAM_<NAME>_*`. Default: none. */
  env?: NodeJS.ProcessEnv;
}

/** Reads and merges every source; throws ConfigError naming each problem. */
export async function loadRoutingConfig(sources: RoutingSources): Promise<RoutingConfig> {
  let file: unknown = {};
  if (sources.file) {
    let text: string;
    try {
      text = await readFile(sources.file, "utf8");
    } catch (error) {
      throw new ConfigError(`cannot read config file ${sources.file}: ${(error as Error).message}`);
    }
    try {
      file = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`config file ${sources.file} is not valid JSON: ${(error as Error).message}`);
    }
  }
  return resolveRoutingConfig(file, sources, sources.file ?? "config");
}

/** Pure: validates a parsed config file and applies environment variables and flags over it. */
export function resolveRoutingConfig(
  raw: unknown,
  sources: RoutingSources,
  origin = "config",
): RoutingConfig {
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ConfigError(`invalid ${origin}:\n${problems.join("\n")}`);
  }
  const file = parsed.data;
  const env = sources.env ?? {};
  const given = sources.settings ?? {};

  // Upstreams: file, then any EDGELLM_UPSTREAM_<NAME>_BASE_URL, then --upstream flags.
  const raws = new Map<string, z.infer<typeof fileUpstreamSchema>>();
  for (const [name, u] of Object.entries(file.upstreams ?? {})) raws.set(name, u);
  for (const key of Object.keys(env)) {
    const match = /^EDGELLM_UPSTREAM_([A-Z0-9_]+)_BASE_URL$/.exec(key);
    if (!match) continue;
    const existing = [...raws.keys()].find((n) => envName(n) === match[1]);
    const name = existing ?? match[1].toLowerCase();
    raws.set(name, { ...raws.get(name), baseUrl: splitUrls(env[key] ?? "") });
  }
  for (const spec of sources.upstreams ?? []) {
    const eq = spec.indexOf("=");
    const name = spec.slice(0, eq);
    if (eq <= 0 || !NAME.test(name))
      throw new ConfigError(`--upstream expects NAME=BASE_URL[,BASE_URL...], got "${spec}"`);
    raws.set(name, { ...raws.get(name), baseUrl: splitUrls(spec.slice(eq + 1)) });
  }

  const defaults = upstreamDefaults(file.upstreamDefaults ?? {}, given);
  const upstreams: UpstreamConfig[] = [];
  for (const [name, u] of raws) upstreams.push(resolveUpstream(name, u, defaults, env));

  const names = new Set(upstreams.map((u) => u.name));
  const defaultModel = given.defaultModel ?? file.defaultModel ?? SETTINGS.defaultModel.default;
  const autoUpstream = file.auto?.upstream;
  if (autoUpstream !== undefined && !names.has(autoUpstream))
    throw new ConfigError(`auto.upstream "${autoUpstream}" is not a configured upstream`);
  if (defaultModel !== "local" && defaultModel !== "auto" && !names.has(defaultModel))
    throw new ConfigError(`defaultModel "${defaultModel}" is neither "local", "auto" nor an upstream`);

  // The file's aliases, then the flags' or variable's (which win name by name).
  const aliases = new Map<string, string>([
    ...Object.entries(file.modelAliases ?? {}),
    ...(given.modelAlias ?? []),
  ]);
  for (const from of aliases.keys())
    if (RESERVED.has(from) || names.has(from))
      throw new ConfigError(`model alias "${from}" would hide the model of that name; pick another name`);

  const threshold = given.routeThreshold ?? file.auto?.threshold ?? SETTINGS.routeThreshold.default;
  const daily = given.cloudDailyBudget ?? file.budget?.daily;
  return {
    defaultModel,
    cloud: given.cloud ?? file.cloud ?? SETTINGS.cloud.default,
    upstreams,
    auto: { threshold, upstream: autoUpstream },
    cascade: {
      enabled: given.cascade ?? file.cascade?.enabled ?? SETTINGS.cascade.default,
      threshold: file.cascade?.threshold ?? 0.6,
    },
    overflow: file.overflow ?? true,
    breaker: { failures: file.breaker?.failures ?? 3, cooldownMs: file.breaker?.cooldownMs ?? 30_000 },
    budget: daily === undefined ? undefined : { daily, currency: file.budget?.currency ?? "" },
    redact: given.redact ?? file.redact ?? SETTINGS.redact.default,
    aliases,
  };
}

/** Settings for every upstream: the flags' or variables' timeouts, else the file's `upstreamDefaults`. */
function upstreamDefaults(file: UpstreamDefaults, given: Partial<RoutingSettings>): UpstreamDefaults {
  return {
    ...file,
    connectTimeoutMs: toMs(given.upstreamConnectTimeout) ?? file.connectTimeoutMs,
    firstByteTimeoutMs: toMs(given.upstreamFirstByteTimeout) ?? file.firstByteTimeoutMs,
    idleTimeoutMs: toMs(given.upstreamIdleTimeout) ?? file.idleTimeoutMs,
  };
}

/** Seconds (fractions allowed) as whole ms, at least 1. */
function toMs(seconds: number): number;
function toMs(seconds: number | undefined): number | undefined;
function toMs(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : Math.max(1, Math.round(seconds * 1000));
}

function resolveUpstream(
  name: string,
  u: Partial<z.infer<typeof upstreamSchema>>,
  defaults: UpstreamDefaults,
  env: NodeJS.ProcessEnv,
): UpstreamConfig {
  if (RESERVED.has(name)) throw new ConfigError(`"${name}" is reserved and cannot name an upstream`);
  const prefix = `EDGELLM_UPSTREAM_${envName(name)}_`;
  const merged = {
    ...u,
    apiKey: env[`${prefix}API_KEY`] || (u.apiKeyEnv ? env[u.apiKeyEnv] : undefined) || u.apiKey,
    model: env[`${prefix}MODEL`] || u.model,
    connectTimeoutMs: numberEnv(env, `${prefix}CONNECT_TIMEOUT_MS`, 1) ?? u.connectTimeoutMs,
    firstByteTimeoutMs:
      numberEnv(env, `${prefix}FIRST_BYTE_TIMEOUT_MS`, 1) ??
      numberEnv(env, `${prefix}TIMEOUT_MS`, 1) ??
      u.firstByteTimeoutMs ??
      u.timeoutMs,
    timeoutMs: undefined,
    price: {
      input: numberEnv(env, `${prefix}PRICE_INPUT`, 0) ?? u.price?.input ?? 0,
      output: numberEnv(env, `${prefix}PRICE_OUTPUT`, 0) ?? u.price?.output ?? 0,
    },
  };
  const checked = upstreamSchema.safeParse(merged);
  if (!checked.success) {
    const problems = checked.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ConfigError(`invalid upstream "${name}":\n${problems.join("\n")}`);
  }
  const c = checked.data;
  const baseUrls = (Array.isArray(c.baseUrl) ? c.baseUrl : [c.baseUrl]).map((b) => b.replace(/\/+$/, ""));
  const firstByteTimeoutMs =
    c.firstByteTimeoutMs ?? defaults.firstByteTimeoutMs ?? toMs(SETTINGS.upstreamFirstByteTimeout.default);
  return {
    name,
    baseUrls,
    apiKey: c.apiKey,
    model: c.model ?? name,
    connectTimeoutMs:
      c.connectTimeoutMs ?? defaults.connectTimeoutMs ?? toMs(SETTINGS.upstreamConnectTimeout.default),
    firstByteTimeoutMs,
    idleTimeoutMs: c.idleTimeoutMs ?? defaults.idleTimeoutMs ?? toMs(SETTINGS.upstreamIdleTimeout.default),
    fallbackAfterMs: c.fallbackAfterMs ?? defaults.fallbackAfterMs ?? firstByteTimeoutMs,
    retries: c.retries ?? defaults.retries ?? 1,
    retryBackoffMs: c.retryBackoffMs ?? defaults.retryBackoffMs ?? 250,
    price: c.price ?? { input: 0, output: 0 },
    contextSize: c.contextSize,
    healthCheckMs: c.healthCheckMs ?? (baseUrls.length > 1 ? 10_000 : 0),
  };
}

/** One line per upstream for the startup log; never includes keys. */
export function describeRouting(config: RoutingConfig): string {
  if (config.upstreams.length === 0) return "routing: local only";
  const ups = config.upstreams.map(
    (u) =>
      `${u.name} -> ${u.model} @ ${u.baseUrls.map((b) => new URL(b).host).join(",")}${u.apiKey ? " (key set)" : ""}`,
  );
  const flags = [
    config.cloud ? `default ${config.defaultModel}` : "cloud disabled",
    `auto threshold ${config.auto.threshold}`,
    config.cascade.enabled ? "cascade on" : "",
    config.redact ? "redaction on" : "",
    config.budget ? `daily budget ${config.budget.daily}${config.budget.currency}` : "",
  ].filter(Boolean);
  return `routing: ${ups.join("; ")} (${flags.join(", ")})`;
}

/** "my-cloud.v2" -> "MY_CLOUD_V2", the form used in environment variable names. */
export function envName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

function splitUrls(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function numberEnv(env: NodeJS.ProcessEnv, key: string, min: number, max = Infinity): number | undefined {
  const value = env[key];
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new ConfigError(`${key} must be a number from ${min} to ${max}, got "${value}"`);
  return n;
}
