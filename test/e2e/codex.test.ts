import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { eventErrors } from "../helpers/openai-spec.js";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// OpenAI's Codex CLI (@openai/codex, a devDependency) against the real `edgellm serve`, configured as a custom
// provider with wire_api = "responses" and its default settings otherwise. Codex speaks only the Responses API
// and sends what OpenAI's own clients send (include reasoning.encrypted_content, reasoning, a namespace tool,
// web_search, store: false, prompt_cache_key, ...); every request it makes must succeed.
//
// The tiny model never ends a turn by itself (no end-of-turn token in 16K tokens, and codex sends no
// max_output_tokens), so the turns that must complete are answered through edgellm's upstream route by a
// scripted OpenAI-compatible upstream: edgellm does all that codex sees (the Responses request, its tools,
// the event stream), the upstream only decides the words and the tool call. The tiny model itself answers
// codex's default request too, until its context is full.

const require = createRequire(import.meta.url);
const CODEX = (() => {
  try {
    return require.resolve("@openai/codex/bin/codex.js");
  } catch {
    return undefined;
  }
})();
const version = CODEX ? spawnSync(process.execPath, [CODEX, "--version"], { encoding: "utf8" }) : undefined;
const skip =
  version?.status === 0
    ? false
    : `the codex CLI cannot run on ${process.platform}-${process.arch}: ${version?.stderr || "@openai/codex is not installed"}`;

/** Codex's prompt and tools come to about 8,600 tokens; the context leaves the tiny model a few hundred. */
const CONTEXT = 9216;

interface Exchange {
  body: Record<string, unknown>;
  status: number;
  headers: Headers;
  events: ResponseStreamEvent[];
}

/** Between codex and edgellm: passes every request on and keeps it, with the answer, for the assertions. */
class Recorder {
  readonly exchanges: Exchange[] = [];
  private server?: Server;
  constructor(private readonly target: string) {}

  get url(): string {
    if (!this.server) throw new Error("the recorder is not started");
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async start(): Promise<void> {
    this.server = createServer(async (req, res) => {
      let raw = "";
      for await (const chunk of req) raw += chunk;
      const upstream = await fetch(`${this.target}${req.url}`, {
        method: req.method,
        headers: { "content-type": "application/json", authorization: req.headers.authorization ?? "" },
        body: req.method === "GET" ? undefined : raw,
      });
      const text = await upstream.text();
      if (req.method === "POST") {
        const events = text
          .split("\n\n")
          .flatMap((message) => message.split("\n").filter((line) => line.startsWith("data: ")))
          .map((line) => JSON.parse(line.slice("data: ".length)) as ResponseStreamEvent);
        this.exchanges.push({
          body: JSON.parse(raw),
          status: upstream.status,
          headers: upstream.headers,
          events,
        });
      }
      res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
      res.end(text);
    });
    this.server.listen(0, "127.0.0.1");
    await new Promise((resolve) => this.server?.once("listening", resolve));
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

let cloud: FakeUpstream;
let server: ServerProcess;
let recorder: Recorder;

before(async () => {
  if (skip) return;
  cloud = await new FakeUpstream().start();
  server = await startServerProcess(
    [
      "--model",
      await tinyModelPath(),
      "--threads",
      "1",
      "--ctx-size",
      String(CONTEXT),
      "--upstream",
      `cloud=${cloud.url}`,
      "--log-level",
      "info",
    ],
    { EDGELLM_UPSTREAM_CLOUD_MODEL: "fake-cloud-model" },
  );
  recorder = new Recorder(server.url);
  await recorder.start();
});

after(async () => {
  await Promise.all([server?.stop(), cloud?.stop(), recorder?.stop()]);
});

/** `codex exec` with a fresh CODEX_HOME whose config.toml points at edgellm; its exit code and output. */
async function codex(
  model: string,
  prompt: string,
  args: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const home = mkdtempSync(path.join(tmpdir(), "edgellm-codex-home-"));
  const work = mkdtempSync(path.join(tmpdir(), "edgellm-codex-work-"));
  writeFileSync(
    path.join(home, "config.toml"),
    `model = "${model}"
model_provider = "edgellm"

[model_providers.edgellm]
name = "edgellm"
base_url = "${recorder.url}"
wire_api = "responses"
env_key = "EDGELLM_API_KEY"
`,
  );
  const child = spawn(
    process.execPath,
    [CODEX as string, "exec", "--skip-git-repo-check", "--cd", work, ...args, prompt],
    {
      env: { ...process.env, CODEX_HOME: home, EDGELLM_API_KEY: "unused" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** The exchanges a run made, each answered 200 with events valid under OpenAI's spec. */
function succeeded(from: number): Exchange[] {
  const made = recorder.exchanges.slice(from);
  assert.ok(made.length > 0, "codex sent no request");
  for (const [i, exchange] of made.entries()) {
    assert.equal(exchange.status, 200, `request ${i}: ${JSON.stringify(exchange.events).slice(0, 500)}`);
    const errors = exchange.events.flatMap((event, j) => eventErrors(event).map((e) => `event ${j}: ${e}`));
    assert.deepEqual(errors, [], `request ${i}`);
  }
  return made;
}

test("codex exec completes a turn with its default settings", { skip }, async () => {
  cloud.script = [{ kind: "ok", text: "Hello from edgellm." }];
  cloud.requests.length = 0; // the script starts again
  const from = recorder.exchanges.length;
  const run = await codex("cloud", "Say hello.");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /Hello from edgellm\./);

  const [first] = succeeded(from);
  // What codex sends, and edgellm accepts.
  console.log(
    "codex's request:",
    JSON.stringify({ ...first.body, instructions: "…", input: "…", tools: "…" }),
  );
  const body = first.body as {
    store: boolean;
    include: string[];
    reasoning: unknown;
    tools: { type: string; name?: string }[];
  };
  assert.equal(body.store, false);
  assert.deepEqual(body.include, ["reasoning.encrypted_content"]);
  assert.ok(body.reasoning, "codex sends reasoning");
  assert.ok(body.tools.some((t) => t.type === "namespace"));
  assert.ok(body.tools.some((t) => t.type === "web_search"));
  // web_search is left out and named; the namespace's functions are offered flat.
  assert.equal(first.headers.get("x-edgellm-tools-ignored"), "web_search");
  await server.waitForOutput(/were left out/);
  const offered = (cloud.requests[0].body.tools as { function: { name: string } }[]).map(
    (t) => t.function.name,
  );
  assert.ok(offered.includes("exec_command"), offered.join(", "));
  const namespace = body.tools.find((t) => t.type === "namespace")?.name;
  assert.ok(
    offered.some((name) => name.startsWith(`${namespace}__`)),
    offered.join(", "),
  );
  assert.ok(!offered.includes("web_search"));
});

test("codex exec runs a shell command the model calls and sends its output back", { skip }, async () => {
  // The command's output is not in its text: what comes back ran.
  cloud.script = [
    {
      kind: "tool-call",
      name: "exec_command",
      arguments: JSON.stringify({ cmd: "echo edgellm-$((40 + 2))" }),
    },
    { kind: "ok", text: "The command ran." },
  ];
  cloud.requests.length = 0;
  const from = recorder.exchanges.length;
  const run = await codex("cloud", "Run echo.");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /The command ran\./);

  const made = succeeded(from);
  assert.equal(made.length, 2, "the call, then its output");
  const call = made[0].events.find((e) => e.type === "response.output_item.done");
  assert.ok(call?.type === "response.output_item.done" && call.item.type === "function_call");
  assert.equal(call.item.name, "exec_command");
  const input = made[1].body.input as { type?: string; call_id?: string; output?: unknown }[];
  const output = input.find((item) => item.type === "function_call_output");
  assert.equal(output?.call_id, call.item.call_id);
  assert.match(JSON.stringify(output?.output), /edgellm-42/);
});

test("the tiny model answers codex's default request: accepted and streamed to the spec", {
  skip,
}, async () => {
  const from = recorder.exchanges.length;
  const run = await codex("local", "Say hello.");
  const [first] = succeeded(from);
  const last = first.events.at(-1);
  // Its answer ends when the context is full (the tiny model says no end-of-turn), which codex reports.
  assert.ok(last && ["response.completed", "response.incomplete"].includes(last.type), last?.type);
  if (last?.type === "response.incomplete") assert.match(run.stderr + run.stdout, /Incomplete response/);
  else assert.equal(run.code, 0, run.stderr);
});

test("a call of a namespaced function goes to codex under its namespace, and codex runs it", {
  skip,
}, async () => {
  cloud.script = [
    {
      kind: "tool-call",
      name: "multi_agent_v1__close_agent",
      arguments: JSON.stringify({ target: "nobody" }),
    },
    { kind: "ok", text: "Closed." },
  ];
  cloud.requests.length = 0;
  const from = recorder.exchanges.length;
  const run = await codex("cloud", "Close the agent.");
  assert.equal(run.code, 0, run.stderr);
  const made = succeeded(from);
  const call = made[0].events.find((e) => e.type === "response.output_item.done");
  assert.ok(call?.type === "response.output_item.done" && call.item.type === "function_call");
  assert.deepEqual([call.item.namespace, call.item.name], ["multi_agent_v1", "close_agent"]);
  // Codex sends the call back under its namespace, with what its close_agent said of the argument.
  const input = made[1].body.input as { type?: string; namespace?: string; output?: unknown }[];
  assert.equal(input.find((item) => item.type === "function_call")?.namespace, "multi_agent_v1");
  const output = input.find((item) => item.type === "function_call_output");
  assert.match(JSON.stringify(output?.output), /invalid agent id nobody/);
});
