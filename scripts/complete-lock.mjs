// node-llama-cpp and Biome ship one optional package per OS. A lock file written against a registry that
// lacks some of them (as this project's build machines' registry does) omits their entries, and `npm ci`
// then rejects the lock as out of sync on every machine. This adds the missing entries, with the OS and CPU
// each package is for, so every platform's `npm ci` resolves its own and skips the rest.
// Run after `npm install` changes dependencies: node scripts/complete-lock.mjs package-lock.json
import { readFileSync, writeFileSync } from "node:fs";

const lockPath = process.argv[2] ?? "package-lock.json";
const lock = JSON.parse(readFileSync(lockPath, "utf8"));
const platform = (name) => {
  const os = /win/.test(name)
    ? "win32"
    : /mac|darwin/.test(name)
      ? "darwin"
      : /android/.test(name)
        ? "android"
        : "linux";
  const cpu = /arm64/.test(name)
    ? "arm64"
    : /armv7l/.test(name)
      ? "arm"
      : /riscv64/.test(name)
        ? "riscv64"
        : "x64";
  const libc = /musl/.test(name) ? ["musl"] : os === "linux" ? ["glibc"] : undefined;
  return { os: [os], cpu: [cpu], ...(libc ? { libc } : {}) };
};
let added = 0;
for (const [parent, dev] of [
  ["node_modules/@biomejs/biome", true],
  ["node_modules/node-llama-cpp", false],
]) {
  const entry = lock.packages[parent];
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key]) continue;
    lock.packages[key] = { version, ...(dev ? { dev: true } : {}), optional: true, ...platform(name) };
    added++;
  }
}
// Keep keys sorted as npm writes them.
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))),
);
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log("added", added);
