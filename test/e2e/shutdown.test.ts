import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// Graceful shutdown of the real `serve` process: each test signals its own server.

/** Liveness bound for a test; a shutdown that hangs fails instead of stalling the suite. */
const bounded = { timeout: 60_000 };
/** Long enough (with --ctx-size 8192) to outlast any grace period used here: several seconds of tokens. */
const LONG = { max_tokens: 8000, ignore_eos: true };

const keepAlive = new Agent({ keepAlive: true });
after(() => keepAlive.destroy());

async function startTiny(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  return startServerProcess(["--model", await tinyModelPath(), "--threads", "1", ...args], env);
}

function chat(server: ServerProcess, fields: Record<string, unknown>): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ messages: [{ role: "user", content: "Tell me a story." }], ...fields }),
  });
}

/**
 * A streaming request read as it arrives, over a keep-alive connection that the client never closes by
 * itself (unlike fetch's), so only the server can end it; resolves once the first event is in.
 */
async function openStream(server: ServerProcess, fields: Record<string, unknown>) {
  const state = { events: [] as string[], ended: false, endedAt: 0 };
  const ended = new Promise<string[]>((resolve, reject) => {
    const body = JSON.stringify({
      messages: [{ role: "user", content: "Tell me a story." }],
      ...fields,
      stream: true,
    });
    const req = request(`${server.url}/v1/chat/completions`, { method: "POST", agent: keepAlive }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      res.setEncoding("utf8");
      let buffer = "";
      res.on("data", (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (event.startsWith("data: ")) state.events.push(event.slice("data: ".length));
        }
      });
      res.on("close", () => {
        state.ended = true;
        state.endedAt = Date.now();
        if (res.complete) resolve(state.events);
        else reject(new Error("the connection dropped mid-stream"));
      });
    });
    req.on("error", reject);
    req.end(body);
  });
  ended.catch(() => {}); // observed by the test
  while (state.events.length === 0 && !state.ended) await sleep(5);
  return { state, ended };
}

/** Waits (bounded) until /metrics matches, e.g. until a request is queued. */
async function waitForMetrics(server: ServerProcess, pattern: RegExp): Promise<void> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    if (pattern.test(await (await fetch(`${server.url}/metrics`)).text())) return;
    await sleep(5);
  }
  assert.fail(`metrics never matched ${pattern}`);
}

/** Sends the signal and waits until the server says it is shutting down; returns when it was sent. */
async function signal(server: ServerProcess, name: NodeJS.Signals): Promise<number> {
  const sentAt = Date.now();
  server.process.kill(name);
  await server.waitForOutput(new RegExp(`${name}: shutting down`));
  return sentAt;
}

/** The process's exit, which must come within `ms` of `since`; fails at once past that rather than waiting. */
async function exitWithin(server: ServerProcess, since: number, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`still running ${ms} ms later:\n${server.output()}`)),
      since + ms - Date.now(),
    );
  });
  try {
    return await Promise.race([server.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

async function assertShuttingDown(response: Response): Promise<void> {
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "1");
  assert.equal(await errorCode(response), "shutting_down");
}

test(
  "SIGTERM: readiness and new and queued requests get 503 at once; work in flight is cut short at the grace; exit 0",
  bounded,
  async () => {
    const server = await startTiny(["--parallel", "2", "--ctx-size", "8192", "--shutdown-grace", "2"]);
    try {
      const stream = await openStream(server, LONG);
      const nonStreaming = chat(server, LONG);
      await waitForMetrics(server, /edgellm_active_slots 2\b/);
      const queued = chat(server, { max_tokens: 4 });
      await waitForMetrics(server, /edgellm_queue_length 1\b/);

      const sentAt = await signal(server, "SIGTERM");
      await assertShuttingDown(await fetch(`${server.url}/health`));
      await assertShuttingDown(await chat(server, { max_tokens: 4 }));
      await assertShuttingDown(await queued);
      const seenWhenQueuedAnswered = stream.state.events.length;

      const events = await stream.ended;
      assert.ok(!events.includes("[DONE]"));
      assert.equal(JSON.parse(events.at(-1) as string).error.code, "shutting_down");
      // Tokens kept coming after the queued request's answer: it did not wait for the grace to end.
      assert.ok(
        events.length > seenWhenQueuedAnswered + 10,
        `${seenWhenQueuedAnswered}, then ${events.length}`,
      );
      await assertShuttingDown(await nonStreaming);

      // The grace, then up to serve's 10 s budget for disposing (a loaded 2-core machine needs more than 1.5 s).
      const exit = await exitWithin(server, sentAt, 2000 + 11_000);
      assert.equal(exit.code, 0, server.output());
      // The exit line times each step, so a slow one is named in any run's output.
      assert.match(
        server.output(),
        /edgellm: stopped \(drain \d+\.\d s, port \d+\.\d s, load \d+\.\d s, knowledge \d+\.\d s, engine \d+\.\d s(, state \d+\.\d s)?\)\n/,
      );
    } finally {
      await server.stop();
    }
  },
);

test(
  "SIGTERM: a stream in flight that finishes within the grace ends normally, and the process exits soon after",
  bounded,
  async () => {
    const server = await startTiny(["--shutdown-grace", "60"]);
    try {
      const stream = await openStream(server, { max_tokens: 1500, ignore_eos: true });
      await signal(server, "SIGTERM");
      const seenAtSignal = stream.state.events.length;
      // The port stays open through the drain, so an orchestrator sees readiness fail.
      await assertShuttingDown(await fetch(`${server.url}/health`));

      const events = await stream.ended;
      assert.equal(events.at(-1), "[DONE]");
      assert.ok(!events.some((e) => e.includes('"error"')));
      assert.ok(events.some((e) => e.includes('"finish_reason":"length"')));
      assert.ok(events.length > seenAtSignal, "the stream ran on after the signal");

      // Far less than the 60 s grace: the drain ends when the work does.
      const exit = await exitWithin(server, stream.state.endedAt, 10_000);
      assert.equal(exit.code, 0, server.output());
    } finally {
      await server.stop();
    }
  },
);

test("a second signal exits at once with 128 + its number", bounded, async () => {
  const server = await startTiny(["--ctx-size", "8192", "--shutdown-grace", "60"]);
  try {
    const stream = await openStream(server, LONG);
    const ended = stream.ended.then(
      () => "ended",
      () => "dropped",
    );
    await signal(server, "SIGTERM");
    const againAt = Date.now();
    server.process.kill("SIGTERM");
    const exit = await exitWithin(server, againAt, 5000); // well before the 60 s grace
    assert.equal(exit.code, 143, server.output());
    assert.equal(await ended, "dropped", "the stream was not drained");
  } finally {
    await server.stop();
  }
});

test("SIGINT shuts down like SIGTERM (grace from EDGELLM_SHUTDOWN_GRACE)", bounded, async () => {
  const server = await startTiny(["--ctx-size", "8192"], { EDGELLM_SHUTDOWN_GRACE: "1" });
  try {
    const stream = await openStream(server, LONG);
    const sentAt = await signal(server, "SIGINT");
    await assertShuttingDown(await fetch(`${server.url}/health`));
    const events = await stream.ended;
    assert.equal(JSON.parse(events.at(-1) as string).error.code, "shutting_down");
    const exit = await exitWithin(server, sentAt, 1000 + 11_000);
    assert.equal(exit.code, 0, server.output());
  } finally {
    await server.stop();
  }
});

test(
  "a keep-alive connection whose request ends during the shutdown does not hold the process",
  bounded,
  async () => {
    const server = await startTiny(["--shutdown-grace", "60"]);
    try {
      // A request begun before the signal whose body only completes once the port is closing: its response
      // goes out on a keep-alive connection that then sits idle, and this client never closes it.
      const req = request(`${server.url}/v1/chat/completions`, { method: "POST", agent: keepAlive });
      const answer = new Promise<{ status?: number; body: string }>((resolve, reject) => {
        req.on("response", (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            body += chunk;
          });
          res.on("end", () => resolve({ status: res.statusCode, body }));
        });
        req.on("error", reject);
      });
      req.write('{"messages": [{"role": "user", "content": "hi"}],');
      await sleep(200); // the server has the headers: the request began before the shutdown
      const sentAt = await signal(server, "SIGTERM");
      await sleep(300); // nothing was in flight, so the drain is over and the port is closing
      req.end('"max_tokens": 4}');
      const { status, body } = await answer;
      assert.equal(status, 503);
      assert.equal(JSON.parse(body).error.code, "shutting_down");
      const exit = await exitWithin(server, sentAt, 10_000); // the grace is 60 s
      assert.equal(exit.code, 0, server.output());
      assert.match(server.output(), /edgellm: stopped/);
    } finally {
      await server.stop();
    }
  },
);

test("a signal while the model is still downloading exits at once", bounded, async () => {
  // A hub that accepts the download request and never answers keeps the server loading.
  const hub = createServer(() => {});
  hub.listen(0, "127.0.0.1");
  await once(hub, "listening");
  const home = await mkdtemp(join(tmpdir(), "edgellm-shutdown-"));
  try {
    const server = await startServerProcess(
      ["--model", "hf:owner/repo/model.gguf", "--shutdown-grace", "60"],
      { EDGELLM_HOME: home, HF_ENDPOINT: `http://127.0.0.1:${(hub.address() as AddressInfo).port}` },
      { ready: false },
    );
    try {
      await assertLoading(await fetch(`${server.url}/health`));
      const sentAt = Date.now();
      server.process.kill("SIGTERM");
      const exit = await exitWithin(server, sentAt, 5000); // not the 60 s grace, nor the download
      assert.equal(exit.code, 0, server.output());
      assert.match(server.output(), /SIGTERM while loading/);
    } finally {
      await server.stop();
    }
  } finally {
    hub.closeAllConnections();
    hub.close();
    await rm(home, { recursive: true, force: true });
  }
});

async function assertLoading(response: Response): Promise<void> {
  assert.equal(response.status, 503);
  assert.equal(await errorCode(response), "model_loading");
}
