// CSV -> one block a row, each written "header: value; header: value" so that a row found alone still says
// what its values are. csv-parse does the quoting rules; the delimiter (, ; tab |) is guessed from the
// first line, as spreadsheet exports in many locales use ; or tabs.
import { parse } from "csv-parse/sync";
import { ExtractError, type Section } from "./types.js";

export function extractCsv(text: string): Section[] {
  let rows: string[][];
  try {
    rows = parse(text, {
      delimiter: guessDelimiter(text),
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      trim: true,
    });
  } catch (error) {
    throw new ExtractError("corrupt_file", `The CSV file could not be read: ${(error as Error).message}`);
  }
  rows = rows.filter((row) => row.some((cell) => cell !== ""));
  if (rows.length === 0) return [];
  const header = rows[0].map((name, i) => name.replace(/\s+/g, " ") || `column ${i + 1}`);
  if (rows.length === 1) return [{ headingPath: [], blocks: [{ kind: "table", text: header.join(" | ") }] }];
  const blocks = rows.slice(1).flatMap((row) => {
    const fields = row
      .map((value, i) => [header[i] ?? `column ${i + 1}`, value.replace(/\s+/g, " ")] as const)
      .filter(([, value]) => value !== "")
      .map(([name, value]) => `${name}: ${value}`);
    return fields.length > 0 ? [{ kind: "table" as const, text: fields.join("; ") }] : [];
  });
  return [{ headingPath: [], blocks }];
}

/** The candidate that appears most often outside quotes in the first line; "," on a tie or none. */
function guessDelimiter(text: string): string {
  const counts = new Map<string, number>([
    [",", 0],
    [";", 0],
    ["\t", 0],
    ["|", 0],
  ]);
  let quoted = false;
  for (let i = 0; i < text.length && i < 64 * 1024; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === "\n") break;
    else if (!quoted && counts.has(c)) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let best = ",";
  for (const [delimiter, count] of counts) if (count > (counts.get(best) ?? 0)) best = delimiter;
  return best;
}
