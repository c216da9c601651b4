import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type BuildProgress,
  buildLlamaServer,
  cmakeBuildArgs,
  cmakeConfigureArgs,
  parseBuildProgress,
} from "../../src/engine/binary/build.js";
import { findLlamaServer } from "../../src/engine/binary/find.js";
import { bundledLlamaCpp, cachedBinaryDir, llamaServerCacheDir } from "../../src/engine/binary/paths.js";
import { LlamaServerBinaryError } from "../../src/engine/binary/version.js";
import { fakeBundled, runCli, TAG, tempDir, writeStandIn } from "./binary-fixtures.js";

const skip = process.platform === "win32" ? "the fake cmake and git are shell scripts" : false;

test("a portable build asks for every CPU variant as loadable modules, found through $ORIGIN", () => {
  const args = cmakeConfigureArgs({
    sourceDir: "/s",
    buildDir: "/b",
    native: false,
    platform: { os: "linux", arch: "x64" },
  });
  assert.deepEqual(args.slice(0, 4), ["-S", "/s", "-B", "/b"]);
  for (const flag of [
    "-DGGML_NATIVE=OFF",
    "-DGGML_BACKEND_DL=ON",
    "-DGGML_CPU_ALL_VARIANTS=ON",
    "-DBUILD_SHARED_LIBS=ON",
    "-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON",
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_BUILD_SERVER=ON",
  ]) {
    assert.ok(args.includes(flag), flag);
  }
  assert.ok(!args.some((a) => a.includes("amx")), "every variant keeps its own flags");
});

test("a native build targets this CPU, without AMX on x86-64", () => {
  const x64 = cmakeConfigureArgs({
    sourceDir: "/s",
    buildDir: "/b",
    native: true,
    platform: { os: "linux", arch: "x64" },
  });
  assert.ok(x64.includes("-DGGML_NATIVE=ON"));
  assert.ok(!x64.includes("-DGGML_CPU_ALL_VARIANTS=ON"));
  assert.ok(x64.includes("-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"));
  assert.ok(x64.includes("-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"));
  const arm = cmakeConfigureArgs({
    sourceDir: "/s",
    buildDir: "/b",
    native: true,
    platform: { os: "linux", arch: "arm64" },
  });
  assert.ok(!arm.some((a) => a.includes("amx")), "arm compilers reject x86 flags");
  assert.deepEqual(cmakeBuildArgs({ buildDir: "/b", jobs: 3 }), [
    "--build",
    "/b",
    "--config",
    "Release",
    "--target",
    "llama-server",
    "-j",
    "3",
  ]);
});

test("every llama.cpp option the build sets is declared in the bundled source", async (t) => {
  const bundled = await bundledLlamaCpp();
  const clone = join(await tempDir(), "llama.cpp");
  try {
    execFileSync("git", ["clone", "--quiet", "--no-checkout", bundled.bundlePath, clone]);
  } catch {
    return t.skip("git is not installed");
  }
  const show = (file: string) =>
    execFileSync("git", ["-C", clone, "show", `HEAD:${file}`], { encoding: "utf8" });
  const sources = show("CMakeLists.txt") + show("ggml/CMakeLists.txt");
  const flags = [
    ...cmakeConfigureArgs({ sourceDir: "/s", buildDir: "/b", native: false }),
    ...cmakeConfigureArgs({ sourceDir: "/s", buildDir: "/b", native: true }),
  ];
  const names = new Set(
    flags.flatMap((a) => /^-D([A-Z_]+)=/.exec(a)?.[1] ?? []).filter((n) => !n.startsWith("CMAKE_")),
  );
  assert.ok(names.size >= 5);
  for (const name of names)
    assert.match(sources, new RegExp(`option\\(\\s*${name}\\b`), `${name} is not an option`);
});

test("build progress comes from Makefile percentages and Ninja step counts", () => {
  assert.equal(parseBuildProgress("[ 45%] Building CXX object ggml/src/ggml.cpp.o"), 45);
  assert.equal(parseBuildProgress("[100%] Built target llama-server"), 100);
  assert.equal(parseBuildProgress("[  3%] Linking C shared library ../../bin/libggml-base.so"), 3);
  assert.equal(parseBuildProgress("[120/400] Building CXX object common/arg.cpp.o"), 30);
  assert.equal(parseBuildProgress("-- Configuring done"), undefined);
  assert.equal(parseBuildProgress("warning: [50%] of something"), undefined);
});

/** A fake git and cmake in `dir`: cmake records its arguments and, for --build, prints `buildOutput` and makes a binary. */
async function fakeTools(dir: string, buildOutput: string, opts: { exit?: number; hang?: boolean } = {}) {
  const git = join(dir, "git");
  await writeFile(git, `#!/bin/sh\nmkdir -p "$4" && echo "$@" >> "${dir}/git.args"\n`);
  const cmake = join(dir, "cmake");
  const standIn = await writeStandIn(join(dir, "stand-in"));
  await writeFile(
    cmake,
    [
      "#!/bin/sh",
      `echo "$@" >> "${dir}/cmake.args"`,
      '[ "$1" = "--build" ] || exit 0',
      `cat <<'EOF'\n${buildOutput}\nEOF`,
      opts.hang ? `sleep 30 & echo $! > "${dir}/sleep.pid"; wait` : "",
      opts.exit ? `exit ${opts.exit}` : "",
      `mkdir -p "$2/bin" && cp "${standIn}" "$2/bin/llama-server"`,
      `echo "lib" > "$2/bin/libggml-cpu-haswell.so"`,
    ].join("\n"),
  );
  await chmod(git, 0o755);
  await chmod(cmake, 0o755);
  return { git, cmake };
}

test("build clones the bundle, configures, builds, reports progress and caches the folder", {
  skip,
}, async () => {
  const tools = await fakeTools(
    await tempDir(),
    "[  3%] a\n[ 50%] b\n[ 20%] c (another target)\n[100%] Built target llama-server",
  );
  const home = await tempDir();
  const progress: BuildProgress[] = [];
  const binary = await buildLlamaServer({
    home,
    bundled: fakeBundled(),
    jobs: 2,
    onProgress: (p) => progress.push(p),
    ...tools,
  });

  const dir = cachedBinaryDir(TAG, "portable", { home });
  assert.equal(binary.path, join(dir, "llama-server"));
  assert.equal(binary.source, "portable");
  assert.ok(
    existsSync(join(dir, "libggml-cpu-haswell.so")),
    "the CPU variant modules stay beside the binary",
  );
  assert.deepEqual(
    progress.map((p) => `${p.phase}:${p.percent}`),
    ["clone:null", "configure:null", "build:0", "build:3", "build:50", "build:100"],
  );
  const cmakeArgs = (await readFile(join(tools.cmake, "..", "cmake.args"), "utf8")).trim().split("\n");
  assert.match(cmakeArgs[0], /-DGGML_CPU_ALL_VARIANTS=ON/);
  assert.match(cmakeArgs[1], /^--build .* --target llama-server -j 2$/);
  assert.match(
    await readFile(join(tools.git, "..", "git.args"), "utf8"),
    /^clone --quiet \/nonexistent\/gitRelease\.bundle /,
  );
  const left = await readdir(llamaServerCacheDir(home));
  assert.deepEqual(
    left.filter((n) => n.startsWith(".staging-")),
    [],
    "the source and build tree are removed",
  );
  assert.equal((await findLlamaServer({ home, bundled: fakeBundled(), env: {} }))?.source, "portable");
});

test("a failing build throws with the tail of its output and caches nothing", { skip }, async () => {
  const lines = Array.from({ length: 40 }, (_, i) => `error line ${i + 1}`).join("\n");
  const tools = await fakeTools(await tempDir(), lines, { exit: 2 });
  const home = await tempDir();
  await assert.rejects(
    buildLlamaServer({ home, bundled: fakeBundled(), native: true, ...tools }),
    (err: unknown) => {
      assert.ok(err instanceof LlamaServerBinaryError);
      assert.match(err.message, /cmake --build failed \(exit code 2\)/);
      assert.match(err.message, /error line 40/);
      assert.doesNotMatch(err.message, /error line 1\n/);
      assert.match(err.message, /build-native\.log/);
      return true;
    },
  );
  assert.equal(existsSync(cachedBinaryDir(TAG, "native", { home })), false);
  assert.match(await readFile(join(llamaServerCacheDir(home), "build-native.log"), "utf8"), /error line 1\n/);
});

test("aborting a build stops the compilers under cmake too", { skip }, async () => {
  const dir = await tempDir();
  const tools = await fakeTools(dir, "[  1%] compiling", { hang: true });
  const home = await tempDir();
  const controller = new AbortController();
  const build = buildLlamaServer({ home, bundled: fakeBundled(), signal: controller.signal, ...tools });
  const pidFile = join(dir, "sleep.pid");
  for (let i = 0; i < 100 && !existsSync(pidFile); i++) await sleep(50);
  const pid = Number(await readFile(pidFile, "utf8"));
  controller.abort();
  await assert.rejects(build, (err: unknown) => (err as Error).name === "AbortError");
  let alive = true;
  for (let i = 0; i < 40 && alive; i++) {
    await sleep(50);
    alive = isAlive(pid);
  }
  assert.equal(alive, false, "the compiler (sleep) was killed with its process group");
  assert.equal(existsSync(cachedBinaryDir(TAG, "portable", { home })), false);
});

test("edgellm engine build without a working cmake exits non-zero with cmake's last lines", {
  skip,
}, async () => {
  const bin = await tempDir();
  await fakeTools(bin, "CMake Error: no C++ compiler\n-- Configuring incomplete, errors occurred!", {
    exit: 1,
  });
  const home = await tempDir();
  const { code, stdout, stderr } = await runCli(["engine", "build"], {
    EDGELLM_HOME: home,
    PATH: `${bin}:${process.env.PATH}`,
  });
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(stderr, /edgellm engine build: cmake --build failed/);
  assert.match(stderr, /CMake Error: no C\+\+ compiler/);
});

/** A zombie counts as gone: in a container nothing may reap an orphan, yet it no longer runs. */
function isAlive(pid: number): boolean {
  if (existsSync("/proc/self/stat")) {
    try {
      return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
