// Rewrites docs/configuration.md's configuration table from src/config/ (run by `npm run docs`, after the
// build). test/config/docs.test.ts fails when docs/configuration.md and the table differ.
import { readFile, writeFile } from "node:fs/promises";
import { withConfigTable } from "../dist/src/config/docs.js";

const page = new URL("../docs/configuration.md", import.meta.url);
const before = await readFile(page, "utf8");
const after = withConfigTable(before);
if (after === before) console.log("docs/configuration.md: configuration table already up to date");
else {
  await writeFile(page, after);
  console.log("docs/configuration.md: configuration table rewritten");
}
