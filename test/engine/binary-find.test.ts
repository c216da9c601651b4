import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { test } from "node:test";
import { ensureLlamaServer } from "../../src/engine/binary/ensure.js";
import { findLlamaServer } from "../../src/engine/binary/find.js";
import {
  bundledLlamaCpp,
  type CachedVariant,
  cachedBinaryDir,
  legacyBuildPath,
  nodeLlamaCppDir,
} from "../../src/engine/binary/paths.js";
import { smokeTest } from "../../src/engine/binary/smoke.js";
import {
  checkLlamaServer,
  LlamaServerBinaryError,
  parseVersionOutput,
} from "../../src/engine/binary/version.js";
import { tinyModelPath } from "../helpers/tiny-model.js";
import { fakeBundled, TAG, tempDir, writeStandIn } from "./binary-fixtures.js";

const skip = process.platform === "win32" ? "stand-in binaries are scripts run through their #! line" : false;

async function cacheWith(variants: CachedVariant[]): Promise<string> {
  const home = await tempDir();
  for (const v of variants) await writeStandIn(cachedBinaryDir(TAG, v, { home }));
  return home;
}

const find = (home: string, extra: { path?: string; env?: NodeJS.ProcessEnv } = {}) =>
  findLlamaServer({ home, bundled: fakeBundled(), env: {}, ...extra });

test("find order: --llama-server > EDGELLM_LLAMA_SERVER > portable > release > native > none", {
  skip,
}, async () => {
  const home = await cacheWith(["native", "portable", "release"]);
  const mine = await writeStandIn(join(await tempDir(), "mine"));
  const fromEnv = await writeStandIn(join(await tempDir(), "env"));
  const env = { EDGELLM_LLAMA_SERVER: fromEnv };
  assert.deepEqual(await find(home, { path: mine, env }), { path: mine, source: "option" });
  assert.deepEqual(await find(home, { env }), { path: fromEnv, source: "env" });
  for (const variant of ["portable", "release", "native"] as const) {
    const dir = cachedBinaryDir(TAG, variant, { home });
    assert.deepEqual(await find(home), { path: join(dir, "llama-server"), source: variant });
    await rm(dir, { recursive: true });
  }
  assert.equal(await find(home), undefined);
});

test("the cache is keyed by llama.cpp tag, platform and variant", () => {
  const dir = cachedBinaryDir("b6000", "native", { home: "/h", platform: { os: "linux", arch: "arm64" } });
  assert.equal(dir, join("/h", "engines", "llama-server", "b6000-linux-arm64-native"));
  assert.equal(
    cachedBinaryDir("b6000", "release", { home: "/h", platform: { os: "darwin", arch: "arm64" } }),
    join("/h", "engines", "llama-server", "b6000-darwin-arm64"),
  );
});

test("a binary cached for another llama.cpp tag is not found", { skip }, async () => {
  const home = await tempDir();
  await writeStandIn(cachedBinaryDir("v0.4.0", "release", { home }));
  assert.equal(await find(home), undefined);
});

test("--llama-server may name the folder; a missing or non-executable path throws", { skip }, async () => {
  const dir = join(await tempDir(), "bin");
  const binary = await writeStandIn(dir);
  const home = await tempDir();
  assert.deepEqual(await find(home, { path: dir }), { path: binary, source: "option" });
  await assert.rejects(find(home, { path: join(dir, "nope") }), /--llama-server .*nope: no such file/);
  await assert.rejects(
    find(home, { env: { EDGELLM_LLAMA_SERVER: join(dir, "nope") } }),
    /EDGELLM_LLAMA_SERVER .*: no such file/,
  );
  await chmod(binary, 0o644);
  await assert.rejects(find(home, { path: binary }), LlamaServerBinaryError);
});

test("a cached file that is not executable is passed over", { skip }, async () => {
  const home = await cacheWith(["native"]);
  const portable = join(cachedBinaryDir(TAG, "portable", { home }), "llama-server");
  await mkdir(join(portable, ".."), { recursive: true });
  await writeFile(portable, "half a binary");
  assert.equal((await find(home))?.source, "native");
});

test("the old build script's binary is found last, and only when built from the bundled commit", {
  skip,
}, async () => {
  const home = await tempDir();
  await writeStandIn(join(legacyBuildPath(home), ".."));
  assert.deepEqual(await find(home), { path: legacyBuildPath(home), source: "legacy" });
  assert.equal(await findLlamaServer({ home, bundled: fakeBundled("a".repeat(40)), env: {} }), undefined);
  await writeStandIn(cachedBinaryDir(TAG, "release", { home }));
  assert.equal((await find(home))?.source, "release");
});

test("ensureLlamaServer skips a cached binary that does not run, but throws for the user's own", {
  skip,
}, async () => {
  const home = await cacheWith(["native"]);
  await writeStandIn(cachedBinaryDir(TAG, "portable", { home }), {
    exitCode: 127,
    output: "libggml.so: not found",
  });
  const lines: string[] = [];
  const opts = {
    home,
    bundled: fakeBundled(),
    env: {},
    allowDownload: false,
    log: (l: string) => lines.push(l),
  };
  const result = await ensureLlamaServer(opts);
  assert.equal(result.binary?.source, "native");
  assert.match(lines.join("\n"), /does not run.*exit code 127/s);
  const broken = join(cachedBinaryDir(TAG, "portable", { home }), "llama-server");
  await assert.rejects(ensureLlamaServer({ ...opts, path: broken }), /libggml\.so: not found/);
});

test("a binary runs in its own folder and is named by its absolute path", { skip }, async () => {
  // ggml looks for its CPU modules in the working directory too, where a stray one would be loaded.
  const dir = await realpath(await tempDir());
  const binary = await writeStandIn(join(dir, "bin"), { output: "version: 1 (abc1234)", printCwd: true });
  assert.equal((await checkLlamaServer(binary)).builtWith, `built with cwd ${join(dir, "bin")}`);
  const relativePath = relative(process.cwd(), join(dir, "bin"));
  assert.deepEqual(await find(await tempDir(), { path: relativePath }), { path: binary, source: "option" });
});

test("parseVersionOutput reads a version line behind the logger's timestamp and level", () => {
  assert.deepEqual(
    parseVersionOutput(
      "0.00.004.649 I version: 0.5.0-dev (build 1, commit de3ff81)\nbuilt with GNU 12.2.0 for Linux x86_64\nsrv  llama_server: initializing ...\n",
    ),
    { version: "0.5.0-dev", commit: "de3ff81", builtWith: "built with GNU 12.2.0 for Linux x86_64" },
  );
});

test("parseVersionOutput reads both of llama.cpp's version formats", () => {
  assert.deepEqual(
    parseVersionOutput(
      "version: 0.5.0-dev (build 1, commit de3ff81)\nbuilt with GNU 12.2.0 for Linux x86_64\n",
    ),
    {
      version: "0.5.0-dev",
      commit: "de3ff81",
      builtWith: "built with GNU 12.2.0 for Linux x86_64",
    },
  );
  assert.deepEqual(parseVersionOutput("load_backend: loaded CPU\nversion: 6000 (2d7b4b6f)\n"), {
    version: "6000",
    commit: "2d7b4b6f",
    builtWith: undefined,
  });
  assert.equal(parseVersionOutput("usage: something else"), undefined);
});

test("checkLlamaServer says why a binary does not run", { skip }, async () => {
  const dir = await tempDir();
  const hung = await writeStandIn(join(dir, "hung"), { hang: true });
  const started = Date.now();
  await assert.rejects(checkLlamaServer(hung, { timeoutMs: 300 }), /no answer to --version within 300 ms/);
  assert.ok(Date.now() - started < 5000);
  const failing = await writeStandIn(join(dir, "failing"), { exitCode: 3, output: "GLIBC_2.38 not found" });
  await assert.rejects(checkLlamaServer(failing), /exit code 3\nGLIBC_2\.38 not found/);
  const other = await writeStandIn(join(dir, "other"), { output: "hello" });
  await assert.rejects(checkLlamaServer(other), /printed no llama\.cpp version/);
  await assert.rejects(checkLlamaServer(join(dir, "missing")), /no such file/);
});

test("bundledLlamaCpp reads node-llama-cpp's tag and the bundle's commit", async () => {
  const info = JSON.parse(await readFile(join(nodeLlamaCppDir(), "llama", "llama.cpp.info.json"), "utf8"));
  const bundled = await bundledLlamaCpp();
  assert.equal(bundled.tag, info.tag);
  assert.equal(bundled.repo, info.llamaCppGithubRepo);
  assert.match(bundled.commit ?? "", /^[0-9a-f]{40}$/);
  assert.ok(existsSync(bundled.bundlePath));
});

const real = join(homedir(), ".edgellm", "llama-server", "build", "bin", "llama-server");
test("the real llama-server answers --version with a version and a commit", {
  skip: existsSync(real) ? false : `no llama-server at ${real} (scripts/build-llama-server.sh builds it)`,
}, async () => {
  const version = await checkLlamaServer(real);
  assert.match(version.version, /^\S+$/);
  assert.match(version.commit ?? "", /^[0-9a-f]{7,40}$/);
  assert.match(version.builtWith ?? "", /^built with /);
});

test("the real llama-server passes the smoke test on the tiny model", {
  skip: existsSync(real) ? false : `no llama-server at ${real}`,
}, async () => {
  await smokeTest(real, await tinyModelPath());
});
