import { readFile } from "node:fs/promises";
import { z } from "zod";
import { DEFAULT_THRESHOLD } from "./policy.js";

/**
 * Routing configuration: a JSON file (`--config FILE` / EDGELLM_CONFIG), environment variables and
 * flags, in rising precedence. Validated with zod; every problem is reported with its path.
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
  /** Reported in /v1/models. Default 32768. */
  contextSize: number;
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
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface RoutingSources {
  /** Path of a JSON config file. */
  file?: string;
  /** `--upstream NAME=URL[,URL...]` values. */
  upstreams?: string[];
  /** `--no-cloud` gives false. */
  cloud?: boolean;
  /**
   * `--upstream-connect-timeout`, `--upstream-first-byte-timeout` and `--upstream-idle-timeout`, in
   * seconds, as typed: for every upstream whose own settings do not say.
   */
  timeouts?: { connect?: string; firstByte?: string; idle?: string };
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

  const defaults = upstreamDefaults(file.upstreamDefaults ?? {}, sources.timeouts ?? {}, env);
  const upstreams: UpstreamConfig[] = [];
  for (const [name, u] of raws) upstreams.push(resolveUpstream(name, u, defaults, env));

  const names = new Set(upstreams.map((u) => u.name));
  const defaultModel = env.EDGELLM_DEFAULT_MODEL || file.defaultModel || "local";
  const autoUpstream = file.auto?.upstream;
  if (autoUpstream !== undefined && !names.has(autoUpstream))
    throw new ConfigError(`auto.upstream "${autoUpstream}" is not a configured upstream`);
  if (defaultModel !== "local" && defaultModel !== "auto" && !names.has(defaultModel))
    throw new ConfigError(`defaultModel "${defaultModel}" is neither "local", "auto" nor an upstream`);

  const threshold =
    numberEnv(env, "EDGELLM_ROUTE_THRESHOLD", 0, 1) ?? file.auto?.threshold ?? DEFAULT_THRESHOLD;
  const daily = numberEnv(env, "EDGELLM_CLOUD_DAILY_BUDGET", 0) ?? file.budget?.daily;
  return {
    defaultModel,
    cloud:
      sources.cloud === false || flagEnv(env, "EDGELLM_NO_CLOUD") === true ? false : (file.cloud ?? true),
    upstreams,
    auto: { threshold, upstream: autoUpstream },
    cascade: {
      enabled: flagEnv(env, "EDGELLM_CASCADE") ?? file.cascade?.enabled ?? false,
      threshold: file.cascade?.threshold ?? 0.6,
    },
    overflow: file.overflow ?? true,
    breaker: { failures: file.breaker?.failures ?? 3, cooldownMs: file.breaker?.cooldownMs ?? 30_000 },
    budget: daily === undefined ? undefined : { daily, currency: file.budget?.currency ?? "" },
    redact: flagEnv(env, "EDGELLM_REDACT") ?? file.redact ?? false,
  };
}

/** Settings for every upstream: file `upstreamDefaults`, then EDGELLM_UPSTREAM_*_TIMEOUT, then flags. */
function upstreamDefaults(
  file: UpstreamDefaults,
  flags: NonNullable<RoutingSources["timeouts"]>,
  env: NodeJS.ProcessEnv,
): UpstreamDefaults {
  const setting = (flag: string, value: string | undefined, key: string) =>
    secondsSetting(`--${flag}`, value) ?? secondsSetting(key, env[key]);
  return {
    ...file,
    connectTimeoutMs:
      setting("upstream-connect-timeout", flags.connect, "EDGELLM_UPSTREAM_CONNECT_TIMEOUT") ??
      file.connectTimeoutMs,
    firstByteTimeoutMs:
      setting("upstream-first-byte-timeout", flags.firstByte, "EDGELLM_UPSTREAM_FIRST_BYTE_TIMEOUT") ??
      file.firstByteTimeoutMs,
    idleTimeoutMs:
      setting("upstream-idle-timeout", flags.idle, "EDGELLM_UPSTREAM_IDLE_TIMEOUT") ?? file.idleTimeoutMs,
  };
}

/** A number of seconds (fractions allowed) as whole ms, at least 1; undefined when not given. */
function secondsSetting(source: string, value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400)
    throw new ConfigError(`${source} must be a number of seconds above 0 (up to 86400), got "${value}"`);
  return Math.max(1, Math.round(n * 1000));
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
  // A hosted model's first token on a short prompt typically comes in under 2 s (providers' published
  // figures, not measured here); 10 s leaves room for queueing and a longer prompt while the local
  // fallback can still start soon. Long-context or reasoning upstreams need more: set it per upstream.
  const firstByteTimeoutMs = c.firstByteTimeoutMs ?? defaults.firstByteTimeoutMs ?? 10_000;
  return {
    name,
    baseUrls,
    apiKey: c.apiKey,
    model: c.model ?? name,
    // 3 s: a TCP and TLS handshake takes well under 1 s even across continents, and 3 s still covers
    // one lost SYN (Linux resends it after 1 s).
    connectTimeoutMs: c.connectTimeoutMs ?? defaults.connectTimeoutMs ?? 3_000,
    firstByteTimeoutMs,
    // 30 s without a chunk mid-answer: a streaming model sends several a second.
    idleTimeoutMs: c.idleTimeoutMs ?? defaults.idleTimeoutMs ?? 30_000,
    fallbackAfterMs: c.fallbackAfterMs ?? defaults.fallbackAfterMs ?? firstByteTimeoutMs,
    retries: c.retries ?? defaults.retries ?? 1,
    retryBackoffMs: c.retryBackoffMs ?? defaults.retryBackoffMs ?? 250,
    price: c.price ?? { input: 0, output: 0 },
    contextSize: c.contextSize ?? 32_768,
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

function flagEnv(env: NodeJS.ProcessEnv, key: string): boolean | undefined {
  const value = env[key]?.toLowerCase();
  if (value === undefined || value === "") return undefined;
  if (["1", "true", "yes", "on"].includes(value)) return true;
  if (["0", "false", "no", "off"].includes(value)) return false;
  throw new ConfigError(`${key} must be true or false, got "${env[key]}"`);
}
