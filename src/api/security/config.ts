import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { edgellmHome } from "../../models/registry.js";
import { ConfigError } from "../../router/config.js";
import { type GeneratedKey, loadOrCreateAccessKey } from "./access-key.js";
import type { SecurityOptions } from "./guard.js";
import { type ApiKey, apiKey, keyProblem, parseKeyFile } from "./keys.js";
import { type HostPolicy, hostPolicy, isLoopbackName, originPolicy } from "./origins.js";

/** The security settings as given: flags, or the environment variables behind them. */
export interface SecuritySources {
  /** The address the server binds: a loopback one keeps the API open by default, any other needs a key. */
  host: string;
  /** `--api-key` / `EDGELLM_API_KEY`: keys clients may present. Default none. */
  apiKeys?: readonly string[];
  /** `--api-key-file` / `EDGELLM_API_KEY_FILE`: a file of keys, with labels and limits. Default none. */
  apiKeyFile?: string;
  /** `--no-auth`: serve a non-loopback bind without any key. Default false. */
  noAuth?: boolean;
  /** `--public-metrics`: GET /metrics answers without a key. Default false. */
  publicMetrics?: boolean;
  /** `--cors-origins`: web pages allowed besides the server's own and loopback ones. Default none. */
  corsOrigins?: readonly string[];
  /** `--allowed-hosts`: `Host` names answered besides loopback ones. Default none. */
  allowedHosts?: readonly string[];
  /** `--key-rpm`: generation requests per key per minute; 0 for none. Default 0. */
  keyRpm?: number;
  /** `--key-tpd`: tokens per key per day; 0 for none. Default 0. */
  keyTpd?: number;
  /** Where a generated key is kept. Default: the edgellm home folder. */
  home?: string;
}

/** What the startup output says about access; never holds a configured key. */
export interface AccessInfo {
  /** Labels of the keys clients may use; empty when the API is open. */
  keyLabels: string[];
  /** The key made for an exposed server with none configured: the one key the startup output may print. */
  generated?: GeneratedKey;
  /** Bound beyond loopback with no key (`--no-auth`): anyone who can reach the port may use it. */
  openToNetwork: boolean;
}

/** Whether binding `host` keeps the server on this machine. */
export function isLoopbackBind(host: string): boolean {
  return isLoopbackName(host);
}

/**
 * Turns the settings into the server's security options, reading the key file and, for an exposed server
 * with no key, loading or making the generated one. Throws ConfigError, which never quotes a key.
 */
export async function resolveSecurity(
  sources: SecuritySources,
): Promise<{ options: SecurityOptions; access: AccessInfo }> {
  const loopback = isLoopbackBind(sources.host);
  const keys = await collectKeys(sources);
  if (sources.noAuth && keys.length > 0)
    throw new ConfigError("--no-auth turns keys off, but API keys are configured: drop one or the other.");
  let generated: GeneratedKey | undefined;
  if (!loopback && keys.length === 0 && !sources.noAuth) {
    generated = await loadOrCreateAccessKey(sources.home ?? edgellmHome()).catch((error: Error) => {
      throw new ConfigError(
        `bound to ${sources.host} with no API key, and cannot keep a generated one: ${error.message}. ` +
          "Set one (--api-key-file, EDGELLM_API_KEY) or make EDGELLM_HOME writable.",
      );
    });
    keys.push(apiKey(generated.key, { label: "generated" }));
  }
  const rpm = sources.keyRpm ?? 0;
  const tpd = sources.keyTpd ?? 0;
  if ((rpm > 0 || tpd > 0) && keys.length === 0)
    throw new ConfigError("--key-rpm and --key-tpd limit API keys, but none is configured (--api-key).");

  const open = keys.length === 0;
  const allowed = sources.allowedHosts ?? [];
  let hosts: HostPolicy | null;
  try {
    // On loopback only loopback names are answered, against DNS rebinding. Beyond loopback a key protects
    // the API, so names are checked only if listed, or if no key does (--no-auth): then a rebound page on
    // another site could reach a LAN-only server through a visitor's browser.
    hosts =
      loopback || allowed.length > 0 || open
        ? hostPolicy(loopback ? allowed : [...allowed, hostname()], { anyAddress: !loopback })
        : null;
    return {
      options: {
        origins: originPolicy(sources.corsOrigins ?? []),
        hosts,
        keys,
        limits: { rpm, tpd },
        publicMetrics: sources.publicMetrics === true,
      },
      access: { keyLabels: keys.map((k) => k.label), generated, openToNetwork: !loopback && open },
    };
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

/** Keys from the file (labelled, first), then the flags and environment; one entry per distinct key. */
async function collectKeys(sources: SecuritySources): Promise<ApiKey[]> {
  const found: ApiKey[] = [];
  if (sources.apiKeyFile) {
    let text: string;
    try {
      text = await readFile(sources.apiKeyFile, "utf8");
    } catch (error) {
      throw new ConfigError(`--api-key-file: cannot read ${sources.apiKeyFile}: ${(error as Error).message}`);
    }
    try {
      found.push(...parseKeyFile(text, sources.apiKeyFile));
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
    if (found.length === 0) throw new ConfigError(`--api-key-file: ${sources.apiKeyFile} holds no key.`);
  }
  for (const raw of sources.apiKeys ?? []) {
    const key = raw.trim();
    if (key === "") continue;
    const problem = keyProblem(key);
    if (problem) throw new ConfigError(`--api-key: ${problem}.`);
    found.push(apiKey(key));
  }
  const keys: ApiKey[] = [];
  const labels = new Set<string>();
  for (const entry of found) {
    if (keys.some((k) => k.digest.equals(entry.digest))) continue;
    let { label } = entry;
    // Two keys whose short hashes collide get a longer one; a label the file gave twice is a mistake.
    if (labels.has(label)) {
      if (!/^key-[0-9a-f]{4}$/.test(label))
        throw new ConfigError(`API keys: the label '${label}' is used twice.`);
      label = `key-${entry.digest.toString("hex").slice(0, 12)}`;
    }
    labels.add(label);
    keys.push({ ...entry, label });
  }
  return keys;
}
