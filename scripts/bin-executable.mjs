// Marks package.json's bin entries executable after tsc wrote them (tsc writes 0644). npm's own bin linking
// would set the bit, but `npx edgellm` in a checkout whose path npx has seen before reuses its cached link and
// skips that step: the command then fails with "Permission denied" (exit 127).
import { chmodSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { bin } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
for (const file of Object.values(typeof bin === "string" ? { bin } : bin)) {
  const path = join(root, file);
  chmodSync(path, statSync(path).mode | 0o111);
}
