import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ERROR_CODES, type ErrorCodeInfo } from "../../src/provider/error-codes.js";

/**
 * The error table of docs/api.md, generated from the registry (src/provider/error-codes.ts). After changing
 * the registry: `npx tsc -p tsconfig.json && node dist/test/helpers/error-table.js --write`;
 * test/provider/error-codes.test.ts fails while docs/api.md is not current.
 */

export const START = "<!-- errors:start -->";
export const END = "<!-- errors:end -->";
export const API_DOC = fileURLToPath(new URL("../../../docs/api.md", import.meta.url));

/** A registry meaning links from the repository's root (`docs/x.md#y`); the table sits in docs/ itself. */
const fromDocs = (meaning: string) => meaning.replaceAll("](docs/", "](");

/** The table, sorted by status (a "4xx" code after the 400s), the registry's order kept within one. */
export function errorTable(): string {
  const rank = (info: ErrorCodeInfo) => (info.status === "4xx" ? 400.5 : info.status);
  const rows = Object.entries(ERROR_CODES as Record<string, ErrorCodeInfo>)
    .sort(([, a], [, b]) => rank(a) - rank(b))
    .map(([code, info]) => {
      const headers = info.headers ? ` + \`${info.headers}\`` : "";
      const param = info.param ? " (`param` names it)" : "";
      const types = typeof info.type === "string" ? [info.type] : info.type;
      const type = types.map((t) => `\`${t}\``).join(" or ");
      return `| ${fromDocs(info.meaning)} | ${info.status}${headers}${param} | \`${code}\` | ${type} |`;
    });
  return ["| case | status | code | type |", "|---|---|---|---|", ...rows].join("\n");
}

/** The text between the markers, without the newlines that frame it. */
export function currentSection(page: string): string {
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start === -1 || end < start) throw new Error(`docs/api.md lacks ${START} ... ${END}`);
  return page.slice(start + START.length, end).trim();
}

export async function writeApiDoc(): Promise<void> {
  const page = await readFile(API_DOC, "utf8");
  const start = page.indexOf(START) + START.length;
  const end = page.indexOf(END);
  if (start < START.length || end < start) throw new Error(`docs/api.md lacks ${START} ... ${END}`);
  await writeFile(API_DOC, `${page.slice(0, start)}\n${errorTable()}\n${page.slice(end)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--write"))
  await writeApiDoc();
