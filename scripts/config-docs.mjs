// Rewrites README.md's configuration table from src/config/ (run by `npm run docs`, after the build).
// test/config/docs.test.ts fails when README.md and the table differ.
import { readFile, writeFile } from "node:fs/promises";
import { withConfigTable } from "../dist/src/config/docs.js";

const readme = new URL("../README.md", import.meta.url);
const before = await readFile(readme, "utf8");
const after = withConfigTable(before);
if (after === before) console.log("README.md: configuration table already up to date");
else {
  await writeFile(readme, after);
  console.log("README.md: configuration table rewritten");
}
