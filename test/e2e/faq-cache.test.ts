import assert from "node:assert/strict";
import { access, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// The real server with the FAQ cache on and a scripted upstream "cloud" priced at 2.0 a request against a
// daily budget of 3, restarted on the same EDGELLM_HOME: answers and spend come back from the state file.
let cloud: FakeUpstream;
let home: string;
let args: string[];
let server: ServerProcess;

before(async () => {
  cloud = await new FakeUpstream().start();
  home = await mkdtemp(path.join(tmpdir(), "edgellm-faq-home-"));
  const config = path.join(home, "routing.json");
  await writeFile(
    config,
    JSON.stringify({
      upstreams: { cloud: { baseUrl: cloud.url, price: { input: 1, output: 2 }, retries: 0 } },
      budget: { daily: 3 },
    }),
  );
  args = [
    "--model",
    await tinyModelPath(),
    "--threads",
    "1",
    "--config",
    config,
    "--faq-cache",
    "--faq-cache-cloud",
  ];
  server = await startServerProcess(args, { EDGELLM_HOME: home });
});

after(async () => {
  await server?.stop();
  await cloud?.stop();
});

async function chat(
  question: string,
  options: { system?: string; stream?: boolean; headers?: Record<string, string>; model?: string } = {},
) {
  const messages = [
    ...(options.system ? [{ role: "system", content: options.system }] : []),
    { role: "user", content: question },
  ];
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...options.headers },
    body: JSON.stringify({
      model: options.model ?? "cloud",
      messages,
      temperature: 0.9,
      // Above the 500 completion tokens the fake upstream reports: a stored answer longer than max_tokens is not served.
      max_tokens: 600,
      stream: options.stream ?? false,
    }),
  });
  const raw = await res.text();
  const text = options.stream
    ? raw
        .split("\n")
        .filter((line) => line.startsWith("data: {"))
        .map((line) => JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? "")
        .join("")
    : res.ok
      ? JSON.parse(raw).choices[0].message.content
      : raw;
  return {
    status: res.status,
    cache: res.headers.get("x-edgellm-cache"),
    route: res.headers.get("x-edgellm-route"),
    text: text as string,
    raw,
  };
}

const metric = async (name: string) => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return text.split("\n").filter((line) => line.startsWith(name));
};

test("a repeated question in another spelling is answered from the cache; a different system prompt misses", async () => {
  await access(path.join(home, "state.sqlite"));
  const first = await chat("What is edgellm?", { stream: true });
  assert.equal(first.cache, "miss");
  assert.equal(first.route, "cloud");
  assert.equal(first.text, "Hello from the cloud.");
  assert.equal(cloud.requests.length, 1);

  const streamed = await chat("  what is EDGELLM？", { stream: true });
  assert.equal(streamed.cache, "hit");
  assert.equal(streamed.text, first.text);
  assert.ok(streamed.raw.split("data: {").length > 3, "replayed as several chunks");
  const whole = await chat("WHAT   IS EDGELLM", {});
  assert.equal(whole.cache, "hit");
  assert.equal(whole.text, first.text);
  assert.equal(cloud.requests.length, 1, "no request went anywhere for a hit");

  const pirate = await chat("What is edgellm?", { system: "You are a pirate." });
  assert.equal(pirate.cache, "miss");
  assert.equal(cloud.requests.length, 2);
  assert.deepEqual(await metric("edgellm_faq_cache_lookups_total"), [
    'edgellm_faq_cache_lookups_total{result="miss"} 2',
    'edgellm_faq_cache_lookups_total{result="hit"} 2',
  ]);
});

test("x-edgellm-cache: bypass skips the cache; another value is a 400", async () => {
  const bypass = await chat("What is edgellm?", { headers: { "x-edgellm-cache": "bypass" }, model: "local" });
  assert.equal(bypass.status, 200);
  assert.equal(bypass.cache, null);
  const bad = await chat("What is edgellm?", { headers: { "x-edgellm-cache": "always" } });
  assert.equal(bad.status, 400);
  assert.equal(JSON.parse(bad.raw).error.code, "invalid_value");
});

test("the admin endpoint lists answers and deletes one", async () => {
  const list = (await (await fetch(`${server.url}/admin/faq`)).json()) as { data: { question: string }[] };
  assert.deepEqual(list.data.map((e) => e.question).sort(), ["What is edgellm?", "What is edgellm?"]);
  const [newest] = list.data as unknown as {
    id: string;
    hits: number;
    expires_at: number;
    created_at: number;
  }[];
  assert.equal(newest.expires_at - newest.created_at, 86_400);
  const deleted = await fetch(`${server.url}/admin/faq/${newest.id}`, { method: "DELETE" });
  assert.equal(deleted.status, 200);
  const again = await fetch(`${server.url}/admin/faq/${newest.id}`, { method: "DELETE" });
  assert.equal(again.status, 404);
  assert.equal(((await again.json()) as { error: { code: string } }).error.code, "cache_entry_not_found");
  assert.deepEqual(await metric("edgellm_faq_cache_entries"), ["edgellm_faq_cache_entries 1"]);
});

test("after a restart the answers and the spent budget are still there; a second server is refused", async () => {
  await server.stop();
  server = await startServerProcess(args, { EDGELLM_HOME: home });
  const hit = await chat("what is edgellm");
  assert.equal(hit.cache, "hit");
  assert.equal(hit.text, "Hello from the cloud.");
  // Two cloud answers at 2.0 each were spent before the restart: the budget of 3 is still used up.
  const fresh = await chat("Something new to ask");
  assert.equal(fresh.route, "local");
  assert.equal(cloud.requests.length, 2);
  assert.deepEqual(await metric("edgellm_router_cloud_spend_today"), ["edgellm_router_cloud_spend_today 4"]);

  const second = await runCli(["serve", ...args, "--port", "0"], { EDGELLM_HOME: home });
  assert.equal(second.code, 2, second.stderr);
  assert.match(second.stderr, /state\.sqlite is in use by another edgellm server/);
  assert.match(second.stderr, /--state-file/);

  const purge = (await (await fetch(`${server.url}/admin/faq`, { method: "DELETE" })).json()) as {
    deleted: number;
  };
  assert.equal(purge.deleted, 1);
});

test("--state-file off keeps everything in memory: no file in the home folder", async () => {
  const bare = await mkdtemp(path.join(tmpdir(), "edgellm-faq-off-"));
  const memoryOnly = await startServerProcess(["--model", await tinyModelPath(), "--state-file", "off"], {
    EDGELLM_HOME: bare,
  });
  await memoryOnly.stop();
  await assert.rejects(access(path.join(bare, "state.sqlite")));
  await assert.rejects(access(path.resolve("off")), "'off' is not taken for a file name");
});
