import { type Command, Option } from "commander";
import { helpSuffix } from "../config/docs.js";
import { type FlagValue, type ResolvedSettings, resolveSettings } from "../config/resolve.js";
import { ConfigError, type Setting } from "../config/setting.js";
import { SETTINGS, type SettingName, type SettingValues } from "../config/settings.js";
import type { EnsureModelOptions } from "../models/registry.js";

/**
 * Adds the flags of `names` to `command`, their help lines ending with the variable and default from the
 * table. No commander default, parser or `.env()`: resolveSettings applies flag > variable > default, so a
 * bad value gets the same message and exit code whether it came from a flag or a variable.
 */
export function addSettingOptions(
  command: Command,
  names: readonly SettingName[],
  help: Partial<Record<SettingName, string>> = {},
): Command {
  for (const name of names) {
    const spec: Setting<unknown> = SETTINGS[name];
    if (spec.flag === undefined) continue;
    const option = new Option(spec.flag, `${help[name] ?? spec.help} ${helpSuffix(spec)}`);
    if (spec.repeatable)
      option.argParser((value: string, previous?: string[]) => [...(previous ?? []), value]);
    command.addOption(option);
  }
  return command;
}

/** Lists, after the options, the settings of `names` that only a variable sets. */
export function addEnvironmentHelp(command: Command, names: readonly SettingName[]): Command {
  const lines = names
    .map((name): Setting<unknown> => SETTINGS[name])
    .filter((spec) => spec.flag === undefined && spec.env !== undefined)
    .map((spec) => `  ${(spec.env as string).padEnd(28)} ${spec.help} ${helpSuffix(spec, false)}`.trimEnd());
  return command.addHelpText("after", `\nEnvironment variables (no flag):\n${lines.join("\n")}`);
}

/**
 * The settings of `names` for a command whose options were added by addSettingOptions. A bad value ends the
 * process with one line on stderr and exit code 2 (a usage error, as commander's own are).
 */
export function commandSettings<K extends SettingName>(
  command: Command,
  names: readonly K[],
  env?: NodeJS.ProcessEnv,
): ResolvedSettings<K> {
  const opts = command.opts();
  const flags: Partial<Record<K, FlagValue>> = {};
  for (const name of names) {
    // Commander gives a lone `--no-x` an implicit default of true: only what was typed counts as a flag.
    if (command.getOptionValueSource(attributeOf(name)) === "cli") flags[name] = opts[attributeOf(name)];
  }
  try {
    return resolveSettings(names, flags, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    exitWithUsageError(error);
  }
}

/** Commander's attribute for a setting's flag: `responseCache` for `--no-response-cache`. */
function attributeOf(name: SettingName): string {
  const flag = (SETTINGS[name] as Setting<unknown>).flag;
  return flag ? new Option(flag).attributeName() : name;
}

export function exitWithUsageError(error: Error): never {
  process.stderr.write(`edgellm: ${error.message}\n`);
  process.exit(2);
}

/** The settings that say where models live and how they are downloaded. */
export const HUB: readonly SettingName[] = [
  "source",
  "home",
  "offline",
  "hubConnectTimeout",
  "hfEndpoint",
  "modelscopeEndpoint",
  "hfToken",
];

/** ensureModel's options from resolved settings. */
export function hubOptions(
  s: Pick<
    SettingValues,
    "source" | "home" | "offline" | "hubConnectTimeout" | "hfEndpoint" | "modelscopeEndpoint" | "hfToken"
  >,
): EnsureModelOptions {
  return {
    source: s.source,
    home: s.home,
    offline: s.offline,
    connectTimeoutMs: s.hubConnectTimeout,
    hfEndpoint: s.hfEndpoint,
    modelscopeEndpoint: s.modelscopeEndpoint,
    hfToken: s.hfToken,
  };
}
