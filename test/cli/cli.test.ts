import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Setting } from "../../src/config/setting.js";
import { SETTINGS } from "../../src/config/settings.js";
import { runCli as runCliWith } from "../helpers/cli.js";
import { startServerProcess, tinyServerFixture } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

/** Runs the CLI with `input` on stdin; resolves with its exit code and output. */
const runCli = (args: string[], input = "", env: NodeJS.ProcessEnv = {}) => runCliWith(args, env, input);

const execFileAsync = promisify(execFile);

const e2e = tinyServerFixture();

test("chat against a running server streams answers and handles /system, /clear and /exit", async () => {
  const input = [
    "hello there",
    "/system You are terse.",
    "second question",
    "/clear",
    "/exit",
    "never sent",
  ].join("\n");
  const { code, stdout, stderr } = await runCli(
    ["chat", "--url", e2e.server.url, "--max-tokens", "8"],
    input,
  );
  assert.equal(code, 0, stderr);
  assert.match(stdout, /Commands: \/clear/);
  assert.match(stdout, /\(system prompt set; conversation cleared\)/);
  assert.match(stdout, /\(conversation cleared\)/);
  assert.doesNotMatch(stdout, /\[error\]/);
  // Two questions were answered: the server saw two chat requests' worth of output lines.
  const answers = stdout.split("\n").filter((line) => line.length > 0 && !line.startsWith("("));
  assert.ok(answers.length >= 3, stdout);
});

test("chat in-process loads the model itself", async () => {
  const input = "hi\n/exit\n";
  const { code, stdout, stderr } = await runCli(
    ["chat", "--model", await tinyModelPath(), "--max-tokens", "4"],
    input,
  );
  assert.equal(code, 0, stderr);
  assert.match(stdout, /Commands:/);
  assert.doesNotMatch(stdout, /\[error\]/);
});

test("chat reports a server error instead of crashing", async () => {
  const { code, stdout } = await runCli(
    ["chat", "--url", e2e.server.url, "--model", "no-such-model"],
    "hi\n/exit\n",
  );
  assert.equal(code, 0);
  assert.match(stdout, /\[error\] 404/);
});

test("serve with no model and no network fails fast with one clear message naming both remedies", async () => {
  const home = await mkdtemp(join(tmpdir(), "edgellm-offline-"));
  try {
    const { code, stderr } = await runCli(["serve", "--port", "0"], "", {
      EDGELLM_HOME: home,
      HF_ENDPOINT: "http://127.0.0.1:9",
      EDGELLM_MODEL_SOURCE: "huggingface",
    });
    assert.equal(code, 1);
    assert.match(stderr, /--model/);
    assert.match(stderr, /edgellm pull/);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("models lists what the cache holds", async () => {
  const home = await mkdtemp(join(tmpdir(), "edgellm-models-"));
  try {
    const { code, stdout } = await runCli(["models", "--json"], "", { EDGELLM_HOME: home });
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), []);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("serve --help lists every serve setting with its variable and default, from the settings table", async () => {
  const { code, stdout } = await runCli(["serve", "--help"]);
  assert.equal(code, 0);
  // One block per option or variable: its first line starts two spaces in, wrapped lines further.
  const blocks = stdout.split(/\n(?= {2}\S)/).map((block) => block.replace(/\s+/g, " ").trim());
  const blockOf = (start: string) => blocks.find((block) => block.startsWith(`${start} `));
  for (const [name, spec] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    if (name === "openaiApiKey") continue; // read by chat only
    const variable = spec.env ? `${spec.env}${spec.envInverted ? "=1" : ""}` : undefined;
    const block = blockOf(spec.flag ?? (spec.env as string));
    assert.ok(block, `${spec.flag ?? spec.env} is in --help`);
    if (spec.flag && variable) assert.ok(block.includes(`env ${variable}`), `names ${variable}: ${block}`);
    const value = spec.default;
    const fallback =
      spec.defaultText?.replaceAll("`", "") ??
      (spec.negated || value === undefined || Array.isArray(value)
        ? undefined
        : typeof value === "boolean"
          ? value
            ? "on"
            : "off"
          : String(value));
    if (fallback) assert.ok(block.includes(`default ${fallback})`), `says default ${fallback}: ${block}`);
  }
});

test("bad settings stop serve at once with one line and exit code 2, from a flag or a variable", async () => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [["--parallel", "0"], {}, /^edgellm: --parallel must be a whole number from 1 to 64, got "0"\n$/],
    [
      [],
      { EDGELLM_PARALLEL: "abc" },
      /^edgellm: EDGELLM_PARALLEL must be a whole number from 1 to 64, got "abc"\n$/,
    ],
    [[], { EDGELLM_CTX_SIZE: "big" }, /^edgellm: EDGELLM_CTX_SIZE must be/],
    [
      [],
      { EDGELLM_MODEL_SOURCE: "github" },
      /^edgellm: EDGELLM_MODEL_SOURCE must be one of huggingface, modelscope/,
    ],
    [["--log-level", "loud"], {}, /^edgellm: --log-level must be one of/],
    [["--no-such-flag"], {}, /unknown option '--no-such-flag'/],
  ];
  for (const [args, env, stderrPattern] of cases) {
    const { code, stdout, stderr } = await runCli(
      ["serve", "--model", "/nonexistent.gguf", ...args],
      "",
      env,
    );
    assert.equal(code, 2, `${args.join(" ")} ${JSON.stringify(env)}: ${stderr}`);
    assert.match(stderr, stderrPattern);
    assert.equal(stdout, "", "nothing started");
  }
});

test("settings reach the server from a variable, and a flag wins over it", async () => {
  const model = await tinyModelPath();
  const contextSize = async (args: string[], env: NodeJS.ProcessEnv) => {
    const server = await startServerProcess(["--model", model, "--threads", "1", ...args], env);
    try {
      const body = (await (await fetch(`${server.url}/v1/models`)).json()) as {
        data: { meta: { context_size: number } }[];
      };
      return body.data[0].meta.context_size;
    } finally {
      await server.stop();
    }
  };
  assert.equal(await contextSize([], { EDGELLM_CTX_SIZE: "512", EDGELLM_PARALLEL: "1" }), 512);
  assert.equal(
    await contextSize(["--ctx-size", "768"], { EDGELLM_CTX_SIZE: "512", EDGELLM_PARALLEL: "1" }),
    768,
  );
});

test("the built edgellm command is executable as a file, as npx and a global install run it", async () => {
  // npx in a checkout it has linked before does not link again, so the build itself must set the bit.
  const root = fileURLToPath(new URL("../../../", import.meta.url));
  const { bin } = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
    bin: Record<string, string>;
  };
  const { stdout } = await execFileAsync(join(root, bin.edgellm as string), ["--version"]);
  assert.match(stdout.trim(), /^\d+\.\d+\.\d+$/);
});
