/**
 * What one setting is: its flag, environment variable, default, unit and help, and how a string becomes its
 * value. The table of every setting is in settings.ts; this file holds the shape and the parsers.
 */

/** A setting given a value it cannot take (a flag, a variable or a config file); startup stops with exit 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Turns one string (a flag's argument or a variable's value) into a value, or says what it expected. */
export type Parser<T> = (text: string) => T;

/** Thrown by a Parser: what was expected, without the source or the value (the caller adds both). */
export class ParseError extends Error {
  override name = "ParseError";
}

export interface Setting<T, D extends T | undefined = T | undefined> {
  /** Commander's flag spec, e.g. `-P, --parallel <n>`; none for a setting only a variable sets. */
  flag?: string;
  /** The variable that sets it when the flag is not given; none only where a variable would be unsafe. */
  env?: string;
  /** The docs' name for variables read elsewhere, when they are a pattern (`EDGELLM_UPSTREAM_<NAME>_...`). */
  envDoc?: string;
  /** The variable says the opposite of the setting (`EDGELLM_NO_CLOUD=1` turns `cloud` off). */
  envInverted?: boolean;
  /** Used when neither flag, variable nor config file gives one; undefined lets the code decide (see defaultText). */
  default: D;
  /** The default as the docs say it, when `default` alone does not (e.g. "every core"). */
  defaultText?: string;
  /** Unit of the value, for the docs: "tokens", "seconds", "MiB". */
  unit?: string;
  /** One line for `--help`. */
  help: string;
  /** The README's wording (Markdown), when it says more than `help`. */
  doc?: string;
  /** Where a config file (`--config`) can carry it too, between the variable and the default. */
  file?: string;
  /** The flag may be given several times; each one's parsed array is appended (T is an array). */
  repeatable?: boolean;
  /** Never quote its value in an error (keys, tokens). */
  secret?: boolean;
  /** For boolean flags: the flag turns the setting off (`--no-cloud`) rather than on. */
  negated?: boolean;
  parse: Parser<T>;
}

/** Infers T and D from a setting literal (a helper, since TypeScript cannot infer them in an object literal). */
export function setting<T, D extends T | undefined>(spec: Setting<T, D>): Setting<T, D> {
  return spec;
}

/** A whole number within bounds. */
export function int(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (text) => {
    const n = Number(text);
    if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max)
      throw new ParseError(
        max === Number.MAX_SAFE_INTEGER
          ? `a whole number from ${min} up`
          : `a whole number from ${min} to ${max}`,
      );
    return n;
  };
}

/** A number within bounds. */
export function number(min: number, max = Number.POSITIVE_INFINITY): Parser<number> {
  return (text) => {
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || n < min || n > max)
      throw new ParseError(`a number from ${min}${max === Number.POSITIVE_INFINITY ? " up" : ` to ${max}`}`);
    return n;
  };
}

const TRUE = ["1", "true", "yes", "on"];
const FALSE = ["0", "false", "no", "off"];

/** true/false, 1/0, yes/no, on/off, in any case. */
export const bool: Parser<boolean> = (text) => {
  const value = text.trim().toLowerCase();
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new ParseError("true or false (1/0, yes/no, on/off)");
};

/** One of a fixed list, in any case. */
export function choice<const C extends string>(choices: readonly C[]): Parser<C> {
  return (text) => {
    const value = text.trim().toLowerCase();
    const found = choices.find((c) => c === value);
    if (found === undefined) throw new ParseError(`one of ${choices.join(", ")}`);
    return found;
  };
}

/** Any text that is not blank. */
export const text: Parser<string> = (value) => {
  if (value.trim() === "") throw new ParseError("a value that is not empty");
  return value.trim();
};

/** An http(s) URL, without a trailing slash. */
export const httpUrl: Parser<string> = (value) => {
  try {
    const url = new URL(value.trim());
    if (url.protocol === "http:" || url.protocol === "https:") return value.trim().replace(/\/+$/, "");
  } catch {
    // refused below
  }
  throw new ParseError("an http(s) URL");
};

/** A comma-separated list, blanks dropped: `a, b,,c` is `["a", "b", "c"]`. */
export const commaList: Parser<string[]> = (value) =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** One item of a repeatable flag whose values may hold commas themselves (`--upstream a=URL,URL`). */
export const whole: Parser<string[]> = (value) => [value];
