import { ParseError, type Parser } from "./setting.js";

/**
 * Model aliases: names clients send unchanged (`gpt-4o`, `gpt-3.5-turbo`) mapped to a model this server
 * serves (`local`, `auto`, an upstream's name or model id, the local model's id). Pure, so every route that
 * takes a `model` (chat and text completions here; responses and embeddings too) resolves them alike.
 */

/** FROM -> TO, as given by `--model-alias`, `EDGELLM_MODEL_ALIAS` or the config file's `modelAliases`. */
export type ModelAliases = ReadonlyMap<string, string>;

/** `gpt-4o=local` or a comma-separated list of them, as [from, to] pairs. */
export const modelAliasList: Parser<[string, string][]> = (value) =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf("=");
      const from = pair.slice(0, eq).trim();
      const to = pair.slice(eq + 1).trim();
      if (eq <= 0 || from === "" || to === "" || to.includes("="))
        throw new ParseError("FROM=TO (e.g. gpt-4o=local), comma-separated in the variable");
      return [from, to];
    });

/**
 * The model a client's name stands for: its alias target, or the name itself. One step only: an alias
 * naming another alias is not followed, so no configuration can loop.
 */
export function resolveModelAlias(aliases: ModelAliases, name: string | undefined): string | undefined {
  return name === undefined ? undefined : (aliases.get(name) ?? name);
}
