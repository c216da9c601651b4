import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CLI, tinyServerFixture } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

/** Runs the CLI with `input` on stdin; resolves with its exit code and output. */
function runCli(args: string[], input = "", env: NodeJS.ProcessEnv = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

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
