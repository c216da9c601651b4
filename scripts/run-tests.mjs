// `npm test`'s runner: every test once, with the real server on the llama-server engine, then every test that
// starts the real server again on the in-process engine, so both engines pass the same suite.
// Without a llama-server binary (see `edgellm engine`) the suite runs once, in-process, and says so.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { findLlamaServer } from "../dist/src/engine/binary/find.js";

const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "..");
// Run by their own scripts, not here: the container test needs docker and builds an image (`npm run test:container`).
const SEPARATE = new Set([path.join(root, "dist/test/deploy/container.test.js")]);
const tests = (dir) =>
  readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".test.js"))
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .filter((file) => !SEPARATE.has(file))
    .sort();

function run(label, files, engine, binary) {
  process.stdout.write(`\n# ${label}: EDGELLM_ENGINE=${engine}, ${files.length} files\n`);
  // The binary by path: tests that give the server an EDGELLM_HOME of their own would not find the cached one.
  const env = { ...process.env, EDGELLM_ENGINE: engine, ...(binary ? { EDGELLM_LLAMA_SERVER: binary } : {}) };
  const result = spawnSync(process.execPath, ["--test", "--test-concurrency=1", ...files], {
    stdio: "inherit",
    env,
  });
  return result.status ?? 1;
}

const binary = await findLlamaServer().catch((error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
const all = tests("dist/test");
if (!binary) {
  process.stdout.write(
    "# no llama-server binary: the suite runs on the in-process engine only (edgellm engine build)\n",
  );
  process.exit(run("all tests", all, "in-process"));
}
// The tests that start the real server (through test/helpers/server-process.ts).
const servers = all.filter((file) => readFileSync(file, "utf8").includes("helpers/server-process.js"));
const first = run("all tests", all, "llama-server", binary.path);
const second = run("end-to-end tests again", servers, "in-process");
process.exit(first || second);
