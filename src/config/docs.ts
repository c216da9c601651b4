import type { Setting } from "./setting.js";
import { SETTINGS } from "./settings.js";

/** The README section `npm run docs` rewrites, between these markers. */
export const DOCS_START = "<!-- config:start -->";
export const DOCS_END = "<!-- config:end -->";

/** The default as people read it: "4096", "on", "every core"; "" when there is none. */
export function defaultText(spec: Setting<unknown>): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  // `--no-cloud` is off unless given: a default of "on" would read as if it were given.
  if (spec.negated) return "";
  const value = spec.default;
  if (typeof value === "boolean") return value ? "on" : "off";
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return "";
  return String(value);
}

/** What `--help` appends to a setting's line: its variable (unless `withEnv` is false) and default. */
export function helpSuffix(spec: Setting<unknown>, withEnv = true): string {
  const env = spec.env ? `${spec.env}${spec.envInverted ? "=1" : ""}` : spec.envDoc?.replaceAll("`", "");
  const parts = [
    withEnv && (env ? `env ${env}` : "no variable"),
    defaultText(spec) && `default ${defaultText(spec).replaceAll("`", "")}`,
  ];
  if (!parts.some(Boolean)) return "";
  return `(${parts.filter(Boolean).join(", ")})`;
}

const cell = (text: string) => text.replaceAll("|", "\\|");
const code = (text: string) => (text ? `\`${text}\`` : "");

/** The README's configuration table, one row per setting in the table's order. */
export function configTable(): string {
  const rows = Object.values(SETTINGS).map((s: Setting<unknown>) => {
    const env = s.envDoc ?? code(s.env ? `${s.env}${s.envInverted ? "=1" : ""}` : "");
    const text = defaultText(s);
    const fallback = s.defaultText !== undefined || typeof s.default === "boolean" ? text : code(text);
    const file = s.file ? `; in the \`--config\` file: \`${s.file}\`` : "";
    return `| ${code(s.flag ?? "")} | ${env} | ${fallback} | ${cell((s.doc ?? s.help) + file)} |`;
  });
  return ["| flag | environment | default | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

/** `readme` with the text between the markers replaced by the table; throws if a marker is missing. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf(DOCS_START);
  const end = readme.indexOf(DOCS_END);
  if (start < 0 || end < start) throw new Error(`README.md needs ${DOCS_START} and ${DOCS_END}`);
  return `${readme.slice(0, start + DOCS_START.length)}\n${configTable()}\n${readme.slice(end)}`;
}
