import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// The real `serve` bound beyond loopback. Traffic only ever goes to 127.0.0.1, never to another address:
// the printed URLs are read for their key and port, and the connection is made to loopback.

let home: string;
let model: string;
const started: ServerProcess[] = [];

before(async () => {
  home = await mkdtemp(path.join(tmpdir(), "edgellm-exposed-"));
  model = await tinyModelPath();
});

after(async () => {
  for (const server of started) await server.stop();
  await rm(home, { recursive: true, force: true });
});

/** Starts `serve` with `args` and EDGELLM_HOME=`home`; resolves once it answers on 127.0.0.1. */
async function serve(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ServerProcess & { local: string }> {
  // The helper would wait for /health at the printed (0.0.0.0) URL: wait here, on loopback, instead.
  const server = await startServerProcess(
    ["--model", model, "--threads", "1", "--ctx-size", "512", ...args],
    { EDGELLM_HOME: home, EDGELLM_API_KEY: "", ...env },
    { ready: false },
  );
  started.push(server);
  const local = `http://127.0.0.1:${new URL(server.url).port}`;
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${local}/health`).catch(() => undefined);
    if (res?.status === 200) break;
    if (attempt > 600 || server.process.exitCode !== null)
      throw new Error(`server never became ready:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...server, local };
}

const chat = (url: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
  });

const WRONG = "sk-edgellm-wrongwrongwrongwrongwrong";

test("--host 0.0.0.0 with no key: a generated key in the printed URL, kept 0600 and reused; no key, 401", async () => {
  const server = await serve(["--host", "0.0.0.0", "--log-level", "debug"]);
  const output = server.output();
  const urls = [...output.matchAll(/^edgellm access URL[^:]*: (http:\/\/\S+)$/gm)].map((m) => m[1]);
  assert.equal(urls.length, 2, output);
  assert.match(urls[1], /^http:\/\/127\.0\.0\.1:\d+\/#key=sk-edgellm-/);
  const key = decodeURIComponent(new URL(urls[1]).hash.slice("#key=".length));
  assert.equal(new URL(urls[0]).hash, new URL(urls[1]).hash);
  assert.match(output, /^edgellm listening on http:\/\/0\.0\.0\.0:\d+ /m);
  assert.match(output, /API key generated and stored in .*api-key/);

  const file = path.join(home, "api-key");
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await readFile(file, "utf8")).trim(), key);

  const wrong: Record<string, string>[] = [{}, { authorization: `Bearer ${WRONG}` }, { "x-api-key": WRONG }];
  for (const headers of wrong) {
    const res = await chat(server.local, headers);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="edgellm"');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "invalid_api_key");
  }
  assert.equal((await fetch(`${server.local}/metrics`)).status, 401);
  assert.equal((await fetch(`${server.local}/v1/models`)).status, 401);
  assert.equal((await fetch(`${server.local}/`)).status, 200, "the page loads, and asks for the key");

  // The official client sends its apiKey as a Bearer token.
  const client = new OpenAI({ baseURL: `${server.local}/v1`, apiKey: key, maxRetries: 0 });
  const answer = await client.chat.completions.create({
    model: "local",
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 2,
  });
  assert.equal(answer.object, "chat.completion");
  assert.equal((await chat(server.local, { "x-api-key": key })).status, 200);
  const metrics = await (
    await fetch(`${server.local}/metrics`, { headers: { authorization: `Bearer ${key}` } })
  ).text();
  assert.match(metrics, /edgellm_key_requests_total\{key="generated"\} 2/);
  assert.match(metrics, /edgellm_refused_requests_total\{code="invalid_api_key"\} 5/);

  // At debug level, neither the key nor a wrong one is written anywhere but the two access URL lines.
  await new Promise((r) => setTimeout(r, 200));
  const lines = server.output().split("\n");
  const leaks = lines.filter(
    (line) => (line.includes(key) || line.includes(WRONG)) && !line.startsWith("edgellm access URL"),
  );
  assert.deepEqual(leaks, []);
  // The log was on, and says what was refused and why, without the key.
  assert.ok(
    lines.some((line) => /"code":"invalid_api_key".*"refused":"unknown key"/.test(line)),
    "refusals logged",
  );
  assert.ok(lines.filter((line) => line.includes('"msg":"incoming request"')).length >= 8, "requests logged");
  assert.ok(
    !lines.some((line) => line.startsWith("{") && /authorization|x-api-key/i.test(line)),
    "no header logged",
  );

  // A restart reuses the stored key: a bookmarked URL keeps working.
  await server.stop();
  const again = await serve(["--host", "0.0.0.0"]);
  assert.match(again.output(), /API key read from .*api-key/);
  assert.ok(again.output().includes(`#key=${key}`));
  assert.equal((await chat(again.local, { authorization: `Bearer ${key}` })).status, 200);
  assert.equal((await chat(again.local)).status, 401);
  await again.stop();
});

test("--no-auth serves an exposed bind openly, with a warning, and makes no key", async () => {
  const open = await mkdtemp(path.join(tmpdir(), "edgellm-exposed-open-"));
  try {
    const server = await serve(["--host", "0.0.0.0", "--no-auth"], { EDGELLM_HOME: open });
    assert.match(server.output(), /warning: --no-auth: the API at http:\/\/0\.0\.0\.0:\d+ is open to anyone/);
    assert.doesNotMatch(server.output(), /access URL/);
    assert.equal((await chat(server.local)).status, 200);
    await assert.rejects(stat(path.join(open, "api-key")));
    await server.stop();
  } finally {
    await rm(open, { recursive: true, force: true });
  }
});

test("keys from EDGELLM_API_KEY and --api-key-file on loopback; their labels are printed, never the keys", async () => {
  const fromEnv = ["sk-test-env-one-0123456789", "sk-test-env-two-0123456789"];
  const file = path.join(home, "keys.txt");
  await writeFile(file, "# the team\nalice: sk-test-file-alice-0123456789 rpm=1\n");
  const server = await serve(["--api-key-file", file], { EDGELLM_API_KEY: fromEnv.join(",") });
  assert.match(server.output(), /^edgellm API keys required: alice, key-[0-9a-f]{4}, key-[0-9a-f]{4}$/m);
  for (const key of fromEnv)
    assert.equal((await chat(server.local, { authorization: `Bearer ${key}` })).status, 200);
  const alice = { authorization: "Bearer sk-test-file-alice-0123456789" };
  assert.equal((await chat(server.local, alice)).status, 200);
  const limited = await chat(server.local, alice);
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  assert.equal(((await limited.json()) as { error: { code: string } }).error.code, "rate_limit_exceeded");
  assert.equal((await chat(server.local)).status, 401);
  assert.ok(!/sk-test/.test(server.output()), "a key was printed");
  await server.stop();
});

test("a bad key file stops the server before it listens", async () => {
  const file = path.join(home, "bad-keys.txt");
  await writeFile(file, "alice: sk-test-file-alice-0123456789 burst=3\n");
  await assert.rejects(
    startServerProcess(["--model", model, "--api-key-file", file], { EDGELLM_HOME: home }),
    (error: Error) => {
      assert.match(error.message, /exited with 2/);
      assert.match(error.message, /bad-keys\.txt line 1: unknown option 'burst'/);
      assert.doesNotMatch(error.message, /sk-test/);
      return true;
    },
  );
});
