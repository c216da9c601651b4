/**
 * The container image, end to end: built from the Dockerfile on a local stand-in for node:24-bookworm-slim
 * (scripts/docker-base-image.sh; registry images cannot be pulled here), run the way docs/deploy.md says with
 * a volume at /data holding a synthetic model made by the image's own `edgellm synth`, and driven with the
 * openai client. Run by `npm run test:container` (and .ci/run), not by `npm test`: it needs docker and
 * builds an image. With docker unusable it fails; it never skips.
 *
 * Environment: EDGELLM_TEST_IMAGE uses that image instead of building one; EDGELLM_ENGINE_BUILD (default
 * `native`, quicker than the image's default `portable`) is the engine build variant of the test image.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import OpenAI from "openai";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const run = promisify(execFile);
const suffix = randomBytes(4).toString("hex");
const VOLUME = `edgellm-test-${suffix}`;
const MODEL = "/data/tiny.gguf";
const containers: string[] = [];
let image = process.env.EDGELLM_TEST_IMAGE ?? "";

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run("docker", args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** A long command with its output streamed to ours, so a slow image build shows progress in CI. */
function stream(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk;
      process.stderr.write(chunk);
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`${command} ${args.join(" ")}: exit ${code}`)),
    );
  });
}

async function startContainer(name: string, options: string[], args: string[]): Promise<string> {
  containers.push(name);
  await docker(
    "run",
    "-d",
    "--name",
    name,
    "-p",
    "127.0.0.1::8080",
    "-v",
    `${VOLUME}:/data`,
    // As in the Kubernetes manifests: nothing but /data and /tmp is written.
    "--read-only",
    "--tmpfs",
    "/tmp",
    ...options,
    image,
    ...args,
  );
  const published = await docker("port", name, "8080/tcp");
  return `http://${published.split("\n")[0]}`;
}

/**
 * GET /health's status, 0 when there is no answer. node:http, not fetch: while the container starts,
 * docker's port proxy accepts the connection and then drops it, and fetch's promise (Node 20's undici) then
 * never settles and holds nothing that keeps the event loop alive, so node:test cancels the test.
 */
function healthStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get(`${url}/health`, { timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.once("timeout", () => request.destroy());
    request.once("error", () => resolve(0));
  });
}

/** Polls /health until 200; fails with the container's log if it exits or takes over `timeoutMs`. */
async function waitHealthy(name: string, url: string, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await healthStatus(url)) === 200) return;
    if ((await docker("inspect", "-f", "{{.State.Running}}", name)) !== "true") break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`${name} did not become healthy; its log:\n${await logs(name)}`);
}

async function logs(name: string): Promise<string> {
  const { stdout, stderr } = await run("docker", ["logs", name], { maxBuffer: 64 * 1024 * 1024 });
  return stdout + stderr;
}

async function chat(url: string, apiKey: string): Promise<OpenAI.Chat.ChatCompletion> {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });
  return client.chat.completions.create({
    model: "local",
    messages: [{ role: "user", content: "Hello from the container test" }],
    max_tokens: 8,
  });
}

/** uid of every process in the container, from /proc (the slim image has no ps). */
async function processUids(name: string): Promise<string[]> {
  const out = await docker(
    "exec",
    name,
    "sh",
    "-c",
    "for s in /proc/[0-9]*/status; do sed -n 's/^Uid:[[:space:]]*\\([0-9]*\\).*/\\1/p' \"$s\"; done",
  );
  return out.split("\n").filter(Boolean);
}

/** `docker stop` with a 30 s timeout: returns its duration and the container's exit code. */
async function stop(name: string): Promise<{ seconds: number; exitCode: number }> {
  const started = Date.now();
  await docker("stop", "-t", "30", name);
  const seconds = (Date.now() - started) / 1000;
  return { seconds, exitCode: Number(await docker("inspect", "-f", "{{.State.ExitCode}}", name)) };
}

before(
  async () => {
    // Fails the file (never skips) when docker is not there to use.
    await docker("info", "--format", "{{.ServerVersion}}");
    if (!image) {
      const base = await stream(path.join(ROOT, "scripts", "docker-base-image.sh"), []);
      image = "edgellm:test";
      const variant = process.env.EDGELLM_ENGINE_BUILD ?? "native";
      await stream("docker", [
        "build",
        "--build-arg",
        `BASE_IMAGE=${base.split("\n").at(-1)}`,
        "--build-arg",
        `ENGINE_BUILD=${variant}`,
        "-t",
        image,
        ".",
      ]);
    }
    await docker("volume", "create", VOLUME);
    // The image's own CLI writes the synthetic model into the volume, as its user (uid 10001).
    await docker(
      "run",
      "--rm",
      "-v",
      `${VOLUME}:/data`,
      image,
      "synth",
      "--shape",
      "tiny",
      "--type",
      "q8_0",
      "--out",
      MODEL,
    );
  },
  { timeout: 60 * 60_000 },
);

after(async () => {
  for (const name of containers) await docker("rm", "-f", "-v", name).catch(() => undefined);
  await docker("volume", "rm", "-f", VOLUME).catch(() => undefined);
});

test("the container serves with a generated key, as non-root, keeps its model and key across a restart, and stops in time", {
  timeout: 10 * 60_000,
}, async () => {
  const name = `edgellm-test-a-${suffix}`;
  const url = await startContainer(name, [], ["--model", MODEL]);
  await waitHealthy(name, url);
  const firstLog = await logs(name);
  assert.match(firstLog, /\(engine: llama-server\)/, "the image's llama-server runs");
  // Security on by default: bound to 0.0.0.0 with no key, it made one and printed the access URL.
  const key = /#key=(sk-edgellm-[A-Za-z0-9_-]+)/.exec(firstLog)?.[1];
  assert.ok(key, `an access URL with the key in the log:\n${firstLog}`);
  await assert.rejects(chat(url, "sk-wrong-key-0000"), (error: { status?: number }) => error.status === 401);
  const answer = await chat(url, key);
  assert.equal(answer.object, "chat.completion");
  assert.ok(answer.usage && answer.usage.completion_tokens > 0, "tokens were generated");

  const uids = await processUids(name);
  assert.ok(uids.length >= 2, `node and llama-server at least: ${uids}`);
  assert.deepEqual([...new Set(uids)], ["10001"], "every process runs as the image's user, none as root");

  // The image's HEALTHCHECK (Node's fetch, no curl in the image) reports healthy.
  let health = "";
  for (let i = 0; i < 60 && health !== "healthy"; i++) {
    health = await docker("inspect", "-f", "{{.State.Health.Status}}", name);
    if (health !== "healthy") await new Promise((r) => setTimeout(r, 1000));
  }
  assert.equal(health, "healthy", "docker's health status");

  const fileBefore = await docker("exec", name, "stat", "-c", "%i %s %Y", MODEL);
  const keyBefore = await docker("exec", name, "cat", "/data/api-key");
  await docker("restart", "-t", "30", name);
  // The published host port may change on a restart.
  const restartedUrl = `http://${(await docker("port", name, "8080/tcp")).split("\n")[0]}`;
  await waitHealthy(name, restartedUrl);
  assert.equal(
    await docker("exec", name, "stat", "-c", "%i %s %Y", MODEL),
    fileBefore,
    "the same model file",
  );
  assert.equal(await docker("exec", name, "cat", "/data/api-key"), keyBefore, "the same key file");
  assert.doesNotMatch(await logs(name), /download/i, "nothing was downloaded");
  assert.equal(
    (await chat(restartedUrl, key)).object,
    "chat.completion",
    "the first start's key still works",
  );

  const { seconds, exitCode } = await stop(name);
  assert.ok(
    seconds < 20,
    `docker stop took ${seconds} s: SIGTERM should end it well before the 30 s timeout`,
  );
  assert.ok(exitCode === 0 || exitCode === 143, `exit code ${exitCode}`);
});

test("settings come from EDGELLM_* variables: EDGELLM_MODEL and EDGELLM_API_KEY", {
  timeout: 5 * 60_000,
}, async () => {
  const name = `edgellm-test-b-${suffix}`;
  const apiKey = `sk-container-test-${suffix}`;
  const url = await startContainer(
    name,
    ["-e", `EDGELLM_MODEL=${MODEL}`, "-e", `EDGELLM_API_KEY=${apiKey}`],
    [],
  );
  await waitHealthy(name, url);
  const log = await logs(name);
  assert.match(log, /tiny/, "serves the model EDGELLM_MODEL names");
  assert.doesNotMatch(log, /#key=/, "with a key configured, no key is generated or printed");
  assert.equal((await chat(url, apiKey)).object, "chat.completion");
  await assert.rejects(
    chat(url, "sk-edgellm-not-this-one"),
    (error: { status?: number }) => error.status === 401,
  );
  const { exitCode } = await stop(name);
  assert.ok(exitCode === 0 || exitCode === 143, `exit code ${exitCode}`);
});
