import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** "Run of 2026-12-08 03:51 UTC on 2 cores (AMD EPYC)": when and where a figure was measured. */
export function runLine(): string {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  return `Run of ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${os.cpus().length} cores (${cpu})`;
}

/**
 * Writes one benchmark's section of docs/benchmarks.md, between `<!-- name:start -->` and `<!-- name:end -->`
 * (added at the end the first time), leaving the other sections as they are.
 */
export async function writeSection(name: string, lines: readonly string[]): Promise<void> {
  const file = path.join(root, "docs/benchmarks.md");
  const doc = await readFile(file, "utf8");
  const section = [`<!-- ${name}:start -->`, ...lines, `<!-- ${name}:end -->`].join("\n");
  const pattern = new RegExp(`<!-- ${name}:start -->[\\s\\S]*<!-- ${name}:end -->`);
  await writeFile(
    file,
    pattern.test(doc) ? doc.replace(pattern, () => section) : `${doc.trimEnd()}\n\n${section}\n`,
  );
}
