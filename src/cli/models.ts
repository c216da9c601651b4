/** `edgellm models`: list the models in the local cache. */
import { Command } from "commander";
import { listModels, modelsDir } from "../models/registry.js";
import { commandSettings } from "./setting-options.js";

/** Bytes as a short human string in powers of 1024, e.g. "379.4 MiB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function modelsCommand(): Command {
  return new Command("models")
    .description("List the models downloaded into the local cache")
    .option("--json", "print a JSON array instead of a table")
    .action(async (opts: { json?: boolean }, self: Command) => {
      const { home } = commandSettings(self, ["home"]).values;
      try {
        const models = await listModels({ home });
        if (opts.json) {
          const rows = models.map((m) => ({ ...m, modifiedAt: m.modifiedAt.toISOString() }));
          process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
          return;
        }
        if (models.length === 0) {
          process.stdout.write(`No models in ${modelsDir(home)}. Download one with "edgellm pull".\n`);
          return;
        }
        const rows = [
          ["MODEL", "SIZE", "MODIFIED", "PATH"],
          ...models.map((m) => [
            m.ref,
            formatBytes(m.sizeBytes),
            m.modifiedAt.toISOString().slice(0, 16).replace("T", " "),
            m.path,
          ]),
        ];
        const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => r[col].length)));
        for (const row of rows) {
          process.stdout.write(
            `${row
              .map((cell, col) => cell.padEnd(widths[col]))
              .join("  ")
              .trimEnd()}\n`,
          );
        }
      } catch (err) {
        process.stderr.write(`edgellm models: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      }
    });
}
