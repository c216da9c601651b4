import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { configTable, DOCS_END, DOCS_START, withConfigTable } from "../../src/config/docs.js";
import type { Setting } from "../../src/config/setting.js";
import { SETTINGS } from "../../src/config/settings.js";

// Runs from dist/test/config/; the repository is three levels up.
const CONFIGURATION = new URL("../../../docs/configuration.md", import.meta.url);

test("docs/configuration.md's table is the one src/config/ gives (run `npm run docs` after adding a setting)", () => {
  const page = readFileSync(CONFIGURATION, "utf8");
  assert.equal(page, withConfigTable(page), "docs/configuration.md is out of date: run `npm run docs`");
});

test("the table has a row per setting, naming its flag, variable and default", () => {
  const rows = configTable().split("\n").slice(2);
  const specs = Object.values(SETTINGS) as Setting<unknown>[];
  assert.equal(rows.length, specs.length);
  specs.forEach((spec, i) => {
    if (spec.flag) assert.ok(rows[i].startsWith(`| \`${spec.flag}\` |`), rows[i]);
    if (spec.env) assert.ok(rows[i].includes(`\`${spec.env}`), rows[i]);
  });
  assert.match(configTable(), /\| `-P, --parallel <n>` \| `EDGELLM_PARALLEL` \| `4` \|/);
});

test("withConfigTable replaces only what is between the markers, and needs both", () => {
  const page = `# Title\n\n${DOCS_START}\nstale\n${DOCS_END}\n\nafter\n`;
  const updated = withConfigTable(page);
  assert.ok(updated.startsWith(`# Title\n\n${DOCS_START}\n| flag |`));
  assert.ok(updated.endsWith(`|\n${DOCS_END}\n\nafter\n`));
  assert.doesNotMatch(updated, /stale/);
  assert.throws(() => withConfigTable("# no markers\n"), /config:start/);
});
