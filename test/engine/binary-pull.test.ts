import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import * as tar from "tar";
import { ensureLlamaServer } from "../../src/engine/binary/ensure.js";
import { findLlamaServer } from "../../src/engine/binary/find.js";
import {
  bundledLlamaCpp,
  cachedBinaryDir,
  currentPlatform,
  llamaServerCacheDir,
} from "../../src/engine/binary/paths.js";
import { pickReleaseAsset, pullLlamaServer, releasePlatformName } from "../../src/engine/binary/pull.js";
import { prebuiltAmxModule } from "../../src/engine/binary/smoke.js";
import { LlamaServerBinaryError } from "../../src/engine/binary/version.js";
import { DownloadVerificationError } from "../../src/provider/errors.js";
import { closedPortUrl } from "../helpers/fake-upstream.js";
import {
  fakeBundled,
  type ReleaseServer,
  releaseServer,
  releaseTree,
  runCli,
  type ServedAsset,
  TAG,
  tarGz,
  tempDir,
  WORKING_AMX_MODULE,
  writeStandIn,
  zip,
} from "./binary-fixtures.js";

const platformName = releasePlatformName(currentPlatform());
const skip =
  process.platform === "win32" || !platformName
    ? "needs a POSIX shell and a platform llama.cpp releases"
    : false;
const assetName = (ext: string) => `llama-${TAG}-bin-${platformName}.${ext}`;
/** Another platform's asset, which must never be picked. */
const other = (data: Buffer): ServedAsset => ({ name: `llama-${TAG}-bin-win-cuda-12.4-x64.zip`, data });

async function withRelease(
  assets: ServedAsset[],
  t: { after(fn: () => Promise<void>): void },
): Promise<ReleaseServer> {
  const server = await releaseServer(assets);
  t.after(() => server.close());
  return server;
}

async function pullInto(home: string, server: ReleaseServer) {
  return pullLlamaServer({ home, bundled: fakeBundled(), releasesUrl: server.url, retryDelayMs: 10 });
}

/** What is left in the cache folder besides finished binaries (staging folders, parts, locks). */
async function leftovers(home: string): Promise<string[]> {
  const root = llamaServerCacheDir(home);
  if (!existsSync(root)) return [];
  const top = (await readdir(root)).filter((n) => n.startsWith(".staging-") || n.includes(".old-"));
  const downloads = existsSync(join(root, "downloads")) ? await readdir(join(root, "downloads")) : [];
  return [...top, ...downloads];
}

test("pull downloads the release's .tar.gz, verifies it and caches the binary with its libraries", {
  skip,
}, async (t) => {
  const data = await tarGz(await releaseTree());
  const server = await withRelease([other(data), { name: assetName("tar.gz"), data }], t);
  const home = await tempDir();
  const binary = await pullInto(home, server);

  const dir = cachedBinaryDir(TAG, "release", { home });
  assert.equal(binary.path, join(dir, "llama-server"));
  assert.equal(binary.source, "release");
  assert.equal(binary.version.version, "0.5.0-dev");
  assert.equal(await readlink(join(dir, "libllama.so")), "libllama.so.0.5.0");
  assert.deepEqual(await leftovers(home), [], "archive, part and staging folder are gone");
  assert.ok(
    server.requests.every((r) => !r.url.includes("win-cuda")),
    "the other platform's asset is never fetched",
  );
  assert.deepEqual(await findLlamaServer({ home, bundled: fakeBundled(), env: {} }), {
    path: binary.path,
    source: "release",
  });
});

test("pull unpacks a .zip release, keeping the executable bit and symlinks", { skip }, async (t) => {
  const data = await zip(await releaseTree());
  if (!data) return t.skip("zip is not installed");
  const server = await withRelease([{ name: assetName("zip"), data }], t);
  const home = await tempDir();
  const binary = await pullInto(home, server);
  assert.ok(((await stat(binary.path)).mode & 0o111) !== 0, "executable");
  assert.ok((await lstat(join(binary.path, "..", "libllama.so"))).isSymbolicLink());
  assert.equal(binary.version.commit, "de3ff81");
});

test("a pull removes staging folders that dead processes left behind, not live ones", { skip }, async (t) => {
  const data = await tarGz(await releaseTree());
  const server = await withRelease([{ name: assetName("tar.gz"), data }], t);
  const home = await tempDir();
  const root = llamaServerCacheDir(home);
  // Above Linux's largest pid (2^22), so surely not running.
  const dead = join(root, ".staging-4194305-abcdef");
  const live = join(root, `.staging-${process.pid}-abcdef`);
  await mkdir(join(dead, "build"), { recursive: true });
  await mkdir(live, { recursive: true });
  await pullInto(home, server);
  assert.equal(existsSync(dead), false);
  assert.equal(existsSync(live), true);
});

test("pulling again replaces the cached binary whole", { skip }, async (t) => {
  const home = await tempDir();
  const first = await withRelease([{ name: assetName("tar.gz"), data: await tarGz(await releaseTree()) }], t);
  await pullInto(home, first);
  const tree = await releaseTree();
  await writeStandIn(join(tree, "build", "bin"), { output: "version: 0.5.1 (build 2, commit abcdef0)" });
  await rm(join(tree, "build", "bin", "libllama.so"));
  const second = await withRelease([{ name: assetName("tar.gz"), data: await tarGz(tree) }], t);
  const binary = await pullInto(home, second);
  assert.equal(binary.version.version, "0.5.1");
  assert.equal(
    existsSync(join(binary.path, "..", "libllama.so")),
    false,
    "no file of the old folder is left",
  );
  assert.deepEqual(await leftovers(home), []);
});

test("a binary whose AMX CPU module crashes here is cached without that module", { skip }, async (t) => {
  const amx = "libggml-cpu-sapphirerapids.so";
  const data = await tarGz(await releaseTree({ crashWithAmx: true }, [amx, "libggml-cpu-icelake.so"]));
  const server = await withRelease([{ name: assetName("tar.gz"), data }], t);
  const home = await tempDir();
  const lines: string[] = [];
  const binary = await pullLlamaServer({
    home,
    bundled: fakeBundled(),
    releasesUrl: server.url,
    log: (l) => lines.push(l),
    amxReplacement: null,
  });
  const dir = join(binary.path, "..");
  assert.equal(existsSync(join(dir, amx)), false);
  assert.equal(existsSync(join(dir, "libggml-cpu-icelake.so")), true);
  assert.match(lines.join("\n"), /crashed \(SIGILL\) with ggml's AMX CPU module/);
});

test("a crashing AMX module is replaced by one that runs, or removed when that crashes too", {
  skip,
}, async (t) => {
  const amx = "libggml-cpu-sapphirerapids.so";
  const replacements = await tempDir();
  const working = join(replacements, "working.so");
  const crashing = join(replacements, "crashing.so");
  await writeFile(working, WORKING_AMX_MODULE);
  await writeFile(crashing, "another AMX module that crashes here");
  for (const [replacement, kept] of [
    [working, true],
    [crashing, false],
  ] as const) {
    const data = await tarGz(await releaseTree({ crashWithAmx: true }, [amx, "libggml-cpu-icelake.so"]));
    const server = await withRelease([{ name: assetName("tar.gz"), data }], t);
    const lines: string[] = [];
    const binary = await pullLlamaServer({
      home: await tempDir(),
      bundled: fakeBundled(),
      releasesUrl: server.url,
      log: (l) => lines.push(l),
      amxReplacement: replacement,
    });
    const module = join(binary.path, "..", amx);
    assert.equal(existsSync(module), kept);
    if (kept) {
      assert.equal(await readFile(module, "utf8"), WORKING_AMX_MODULE);
      assert.match(lines.join("\n"), /prebuilt module of the same llama.cpp release runs/);
    } else assert.match(lines.join("\n"), /removed it, so the next best is used/);
  }
});

test("node-llama-cpp's prebuilt AMX module is offered only for the llama.cpp release it was built from", async () => {
  const pkg = join(await tempDir(), "node-llama-cpp");
  const bins = join(pkg, "..", "@node-llama-cpp", "linux-x64", "bins", "linux-x64");
  await mkdir(bins, { recursive: true });
  await writeFile(join(bins, "libggml-cpu-sapphirerapids.so"), "module");
  const meta = (release: string) => JSON.stringify({ buildOptions: { llamaCpp: { release } } });
  const platform = { os: "linux", arch: "x64" } as const;
  await writeFile(join(bins, "_nlcBuildMetadata.json"), meta(TAG));
  assert.equal(await prebuiltAmxModule(TAG, platform, pkg), join(bins, "libggml-cpu-sapphirerapids.so"));
  assert.equal(await prebuiltAmxModule("b9999", platform, pkg), undefined);
  await writeFile(join(bins, "_nlcBuildMetadata.json"), meta("b9999"));
  assert.equal(await prebuiltAmxModule(TAG, platform, pkg), undefined);
});

test("a binary that cannot load a model is not cached", { skip }, async (t) => {
  const cases = [
    { standIn: { failToServe: true }, why: /exit code 1[\s\S]*cannot load model/ },
    // A crash with no AMX module to blame leaves nothing to fall back to.
    { standIn: { crash: true }, why: /SIGILL/ },
  ];
  for (const { standIn, why } of cases) {
    const data = await tarGz(await releaseTree(standIn, ["libggml-cpu-icelake.so"]));
    const server = await withRelease([{ name: assetName("tar.gz"), data }], t);
    const home = await tempDir();
    await assert.rejects(pullInto(home, server), (err: unknown) => {
      assert.ok(err instanceof LlamaServerBinaryError);
      assert.match(err.message, /failed to load a tiny test model/);
      assert.match(err.message, why);
      return true;
    });
    assert.equal(existsSync(cachedBinaryDir(TAG, "release", { home })), false);
    assert.deepEqual(await leftovers(home), []);
  }
});

test("a corrupt archive (wrong SHA-256) is refused and nothing is moved into place", { skip }, async (t) => {
  const data = await tarGz(await releaseTree());
  const server = await withRelease([{ name: assetName("tar.gz"), data, digest: "0".repeat(64) }], t);
  const home = await tempDir();
  await assert.rejects(
    pullInto(home, server),
    (err: unknown) => err instanceof DownloadVerificationError && /sha256/.test(err.message),
  );
  assert.equal(existsSync(cachedBinaryDir(TAG, "release", { home })), false);
  assert.deepEqual(await leftovers(home), []);
  assert.equal(await findLlamaServer({ home, bundled: fakeBundled(), env: {} }), undefined);
});

test("an archive entry pointing outside its folder is refused and nothing is cached", { skip }, async (t) => {
  const tree = await releaseTree();
  await writeFile(join(tree, "evil.txt"), "escaped");
  const file = join(await tempDir(), "evil.tar.gz");
  await tar.c({ gzip: true, file, cwd: join(tree, "build"), preservePaths: true }, ["bin", "../evil.txt"]);
  const server = await withRelease([{ name: assetName("tar.gz"), data: await readFile(file) }], t);
  const home = await tempDir();
  await assert.rejects(pullInto(home, server), /could not be unpacked: .*\.\./);
  assert.equal(existsSync(cachedBinaryDir(TAG, "release", { home })), false);
  assert.equal(existsSync(join(llamaServerCacheDir(home), "evil.txt")), false);
  assert.deepEqual(await leftovers(home), []);
});

test("an interrupted download resumes from where it was cut", { skip }, async (t) => {
  const data = await tarGz(await releaseTree());
  const cut = Math.floor(data.length / 2);
  const server = await withRelease([{ name: assetName("tar.gz"), data, cutFirstAfter: cut }], t);
  const home = await tempDir();
  const binary = await pullInto(home, server);
  assert.equal(binary.source, "release");
  const downloads = server.requests.filter((r) => r.url.startsWith("/download/"));
  assert.equal(downloads.length, 2);
  assert.equal(downloads[0].headers.range, undefined);
  // The client keeps what reached it before the cut, at most `cut` bytes.
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(downloads[1].headers.range ?? "")?.[1]);
  assert.ok(resumedAt > 0 && resumedAt <= cut, `resumed at ${downloads[1].headers.range}`);
});

test("a release without this platform's build says so and names what it has", { skip }, async (t) => {
  const server = await withRelease([other(Buffer.from("x"))], t);
  const home = await tempDir();
  await assert.rejects(pullInto(home, server), (err: unknown) => {
    assert.ok(err instanceof LlamaServerBinaryError);
    assert.match(err.message, new RegExp(`no CPU build for ${process.platform}-${process.arch}`));
    assert.match(err.message, /win-cuda-12\.4-x64\.zip/);
    assert.match(err.message, /edgellm engine build/);
    return true;
  });
});

test("an asset without a digest is not downloaded at all", { skip }, async (t) => {
  const data = await tarGz(await releaseTree());
  const server = await withRelease([{ name: assetName("tar.gz"), data, digest: null }], t);
  await assert.rejects(pullInto(await tempDir(), server), /no SHA-256 digest/);
  assert.ok(server.requests.every((r) => !r.url.startsWith("/download/")));
});

test("pickReleaseAsset picks this platform's CPU build, tar.gz over zip off Windows", () => {
  const asset = (name: string) => ({ name, size: 1, digest: null, browser_download_url: `http://x/${name}` });
  const assets = [
    asset("llama-b1-bin-ubuntu-vulkan-x64.tar.gz"),
    asset("llama-b1-bin-ubuntu-x64.zip"),
    asset("llama-b1-bin-ubuntu-x64.tar.gz"),
    asset("llama-b1-bin-ubuntu-arm64.zip"),
    asset("llama-b1-bin-win-cpu-x64.zip"),
    asset("cudart-llama-bin-win-cuda-12.4-x64.zip"),
  ];
  assert.equal(
    pickReleaseAsset(assets, { os: "linux", arch: "x64" })?.name,
    "llama-b1-bin-ubuntu-x64.tar.gz",
  );
  assert.equal(
    pickReleaseAsset(assets, { os: "linux", arch: "arm64" })?.name,
    "llama-b1-bin-ubuntu-arm64.zip",
  );
  assert.equal(pickReleaseAsset(assets, { os: "win32", arch: "x64" })?.name, "llama-b1-bin-win-cpu-x64.zip");
  assert.equal(pickReleaseAsset(assets, { os: "darwin", arch: "arm64" }), undefined);
  assert.equal(pickReleaseAsset(assets, { os: "linux", arch: "riscv64" }), undefined);
});

test("ensureLlamaServer pulls when allowed and nothing is cached", { skip }, async (t) => {
  const data = await tarGz(await releaseTree());
  const server = await withRelease([{ name: assetName("tar.gz"), data }], t);
  const home = await tempDir();
  const lines: string[] = [];
  const env = { EDGELLM_LLAMA_RELEASES_URL: server.url };
  const result = await ensureLlamaServer({
    home,
    bundled: fakeBundled(),
    env,
    allowDownload: true,
    log: (l) => lines.push(l),
  });
  assert.equal(result.binary?.source, "release");
  assert.match(lines.join("\n"), /downloading/);
  // The second time it is found in the cache: no request.
  const before = server.requests.length;
  const again = await ensureLlamaServer({ home, bundled: fakeBundled(), env, allowDownload: true });
  assert.equal(again.binary?.path, result.binary?.path);
  assert.equal(server.requests.length, before);
});

test("ensureLlamaServer offline or not allowed to download gives a reason instead of throwing", async () => {
  const home = await tempDir();
  const notAllowed = await ensureLlamaServer({ home, bundled: fakeBundled(), env: {}, allowDownload: false });
  assert.equal(notAllowed.binary, undefined);
  assert.match(notAllowed.reason ?? "", /edgellm engine pull.*edgellm engine build/);

  const optedOut = await ensureLlamaServer({
    home,
    bundled: fakeBundled(),
    env: { EDGELLM_OFFLINE: "1", EDGELLM_LLAMA_RELEASES_URL: "http://127.0.0.1:1" },
    allowDownload: true,
  });
  assert.match(optedOut.reason ?? "", /EDGELLM_OFFLINE is set/);

  const offline = new URL(await closedPortUrl()).origin;
  const started = Date.now();
  const result = await ensureLlamaServer({
    home,
    bundled: fakeBundled(),
    env: { EDGELLM_LLAMA_RELEASES_URL: offline },
    allowDownload: true,
  });
  assert.equal(result.binary, undefined);
  assert.match(result.reason ?? "", /could not download llama-server/);
  assert.ok(Date.now() - started < 5000, "an unreachable host fails fast");
});

test("edgellm engine pull prints the cached binary's path; engine status then shows it", {
  skip,
}, async (t) => {
  // The CLI asks for the real bundled tag, so the fixture serves the stand-in under it.
  const { tag } = await bundledLlamaCpp();
  const data = await tarGz(await releaseTree());
  const server = await releaseServer([{ name: `llama-${tag}-bin-${platformName}.tar.gz`, data }], tag);
  t.after(() => server.close());
  const home = await tempDir();
  const env = { EDGELLM_HOME: home, EDGELLM_LLAMA_RELEASES_URL: server.url, EDGELLM_LLAMA_SERVER: "" };
  const pulled = await runCli(["engine", "pull"], env);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(pulled.stdout.trim(), join(cachedBinaryDir(tag, "release", { home }), "llama-server"));
  const status = await runCli(["engine"], env);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /from: llama\.cpp's release/);
  assert.match(status.stdout, /version: 0\.5\.0-dev \(commit de3ff81\)/);
});

test("edgellm engine pull without this platform's build exits 1 with the reason", { skip }, async (t) => {
  const { tag } = await bundledLlamaCpp();
  const server = await releaseServer([other(Buffer.from("x"))], tag);
  t.after(() => server.close());
  const env = { EDGELLM_HOME: await tempDir(), EDGELLM_LLAMA_RELEASES_URL: server.url };
  const pulled = await runCli(["engine", "pull"], env);
  assert.equal(pulled.code, 1);
  assert.equal(pulled.stdout, "");
  assert.match(pulled.stderr, /edgellm engine pull: llama\.cpp release .* has no CPU build/);
});
