import { ConfigError, ParseError, type Setting } from "./setting.js";
import { SETTINGS, type SettingName, type SettingValues } from "./settings.js";

/** What a command line gave for a setting: a flag's argument, a repeated flag's arguments, or a switch. */
export type FlagValue = string | string[] | boolean;

export interface ResolvedSettings<K extends SettingName> {
  /** Every setting asked for: flag, else variable, else default. */
  values: Pick<SettingValues, K>;
  /**
   * Only those a flag or a variable gave: what a config file must not override (it sits between them and
   * the default).
   */
  given: Partial<Pick<SettingValues, K>>;
}

/**
 * Applies flag > variable > default to `names`; throws ConfigError naming the flag or variable and what it
 * expected. This and `settingFromEnv` are the only readers of the environment for settings.
 */
export function resolveSettings<K extends SettingName>(
  names: readonly K[],
  flags: Partial<Record<K, FlagValue>>,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedSettings<K> {
  const values: Record<string, unknown> = {};
  const given: Record<string, unknown> = {};
  for (const name of names) {
    const spec: Setting<unknown> = SETTINGS[name];
    const value = fromFlag(spec, flags[name]) ?? fromEnv(spec, env);
    if (value !== undefined) given[name] = value;
    values[name] = value ?? spec.default;
  }
  return { values, given } as ResolvedSettings<K>;
}

/** One setting from its variable, else its default: for code that runs with no command line of its own. */
export function settingFromEnv<K extends SettingName>(
  name: K,
  env: NodeJS.ProcessEnv = process.env,
): SettingValues[K] {
  return resolveSettings([name], {}, env).values[name];
}

function fromFlag(spec: Setting<unknown>, raw: FlagValue | undefined): unknown {
  if (raw === undefined || typeof raw === "boolean") return raw;
  const label = longFlag(spec);
  if (Array.isArray(raw)) return raw.flatMap((item) => parse(spec, item, label) as unknown[]);
  return parse(spec, raw, label);
}

function fromEnv(spec: Setting<unknown>, env: NodeJS.ProcessEnv): unknown {
  // An empty variable counts as unset, as a shell's `VAR= cmd` is meant.
  const raw = spec.env === undefined ? undefined : env[spec.env];
  if (raw === undefined || raw === "") return undefined;
  const value = parse(spec, raw, spec.env as string);
  return spec.envInverted ? !value : value;
}

function parse(spec: Setting<unknown>, raw: string, label: string): unknown {
  try {
    return spec.parse(raw);
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
    const quoted = raw.length > 40 ? `${raw.slice(0, 40)}...` : raw;
    throw new ConfigError(`${label} must be ${error.message}${spec.secret ? "" : `, got "${quoted}"`}`);
  }
}

/** `--parallel` from `-P, --parallel <n>`. */
export function longFlag(spec: Setting<unknown>): string {
  return /--[a-z0-9-]+/.exec(spec.flag ?? "")?.[0] ?? "";
}

/**
 * The `EDGELLM_UPSTREAM_<NAME>_*` variables, whose names are made from an upstream's own; src/router/config.ts
 * reads them from this copy.
 */
export function upstreamVariables(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith("EDGELLM_UPSTREAM_")));
}
