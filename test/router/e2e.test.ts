import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import { closedPortUrl, FakeUpstream } from "../helpers/fake-upstream.js";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// Three real `edgellm serve` processes: two replicas of an upstream "fleet", and the front server that
// routes between its own local model and the fleet. Driven by the official openai client.
let replicas: ServerProcess[] = [];
let front: ServerProcess;
let flaky: FakeUpstream;
let client: OpenAI;

const base = async () => [
  "--model",
  await tinyModelPath(),
  "--ctx-size",
  "1024",
  "--parallel",
  "1",
  "--threads",
  "1",
];

before(async () => {
  flaky = await new FakeUpstream().start();
  // Free ports chosen up front so the front server can start alongside its replicas (startup dominates).
  const ports = [await freePort(), await freePort()];
  const replicaUrls = ports.map((port) => `http://127.0.0.1:${port}/v1`);
  const dir = await mkdtemp(join(tmpdir(), "edgellm-routing-"));
  const config = join(dir, "routing.json");
  await writeFile(
    config,
    JSON.stringify({
      upstreams: {
        // Base URLs come from --upstream; the file adds the rest. Health checks are left to the
        // in-process tests so that killing a replica below exercises retry and fallback.
        fleet: {
          model: "local",
          firstByteTimeoutMs: 10_000,
          retries: 1,
          retryBackoffMs: 20,
          healthCheckMs: 0,
        },
        flaky: { baseUrl: flaky.url, retries: 0 },
      },
      auto: { upstream: "fleet" },
    }),
  );
  [front, ...replicas] = await Promise.all([
    startServerProcess([
      ...(await base()),
      "--config",
      config,
      "--upstream",
      `fleet=${replicaUrls.join(",")}`,
    ]),
    ...ports.map(async (port) => startServerProcess([...(await base()), "--port", String(port)])),
  ]);
  client = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

after(async () => {
  await Promise.all([front?.stop(), ...replicas.map((r) => r.stop()), flaky?.stop()]);
});

type Served = OpenAI.ChatCompletion & { edgellm?: { route: string; route_reason: string } };

async function ask(
  model: string,
  messages: OpenAI.ChatCompletionMessageParam[],
  headers: Record<string, string> = {},
) {
  const { data, response } = await client.chat.completions
    .create({ model, messages, max_tokens: 8, temperature: 0 }, { headers })
    .withResponse();
  const served = data as Served;
  assert.equal(served.edgellm?.route, response.headers.get("x-edgellm-route"));
  return {
    data: served,
    route: response.headers.get("x-edgellm-route"),
    reason: decodeURIComponent(response.headers.get("x-edgellm-route-reason") ?? ""),
  };
}

async function freePort(): Promise<number> {
  return Number(new URL(await closedPortUrl()).port);
}

const user = (content: string) => [{ role: "user" as const, content }];

test("/v1/models lists local, the upstreams and auto", async () => {
  const ids = (await client.models.list()).data.map((m) => m.id);
  assert.match(ids[0], /tiny/);
  assert.deepEqual(ids.slice(1), ["fleet", "flaky", "auto"]);
});

test("local, named upstream and auto routes, with the reason in headers and body", async () => {
  const local = await ask("local", user("hi"));
  assert.equal(local.route, "local");
  assert.equal(local.reason, "requested local");

  const fleet = await ask("fleet", user("hi"));
  assert.equal(fleet.route, "fleet");
  assert.match(fleet.reason, /^requested 'fleet'; replica [12]\/2 by affinity$/);
  assert.match(fleet.data.model, /tiny/, "the model that answered");
  assert.ok((fleet.data.usage?.completion_tokens ?? 0) >= 1);

  const easy = await ask("auto", user("你好，今天心情怎么样？"));
  assert.equal(easy.route, "local");
  assert.match(easy.reason, /^auto: difficulty 0\.\d\d < 0\.50/);
  const hard = await ask("auto", user("证明：任意一个图的奇度顶点个数一定是偶数，并给出严格推导。"));
  assert.equal(hard.route, "fleet");
  assert.match(hard.reason, /^auto: difficulty \d\.\d\d >= 0\.50 \(proof/);

  const privateAsk = await ask("fleet", user("hi"), { "x-edgellm-allow-cloud": "false" });
  assert.equal(privateAsk.route, "local");
  assert.match(privateAsk.reason, /the request does not allow the cloud/);
});

test("streaming through an upstream, and an upstream dying mid-stream ends it with an error event", async () => {
  const stream = await client.chat.completions.create({
    model: "fleet",
    messages: user("hi"),
    max_tokens: 8,
    stream: true,
  });
  let chunks = 0;
  for await (const _ of stream) chunks++;
  assert.ok(chunks >= 2);

  flaky.script = [{ kind: "die-mid-stream", chunks: 2 }];
  const dying = await client.chat.completions.create({ model: "flaky", messages: user("hi"), stream: true });
  let text = "";
  await assert.rejects(
    async () => {
      for await (const chunk of dying) text += chunk.choices[0]?.delta.content ?? "";
    },
    (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError, String(error));
      assert.match(error.message, /upstream 'flaky' failed mid-stream/);
      return true;
    },
  );
  assert.equal(text, "part0 part1 ");
});

test("a conversation's next turn lands on the replica holding its prefix cache", async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const system = {
      role: "system" as const,
      content: `You are assistant number ${i}. ${"Be concise. ".repeat(20)}`,
    };
    const first = await ask("fleet", [
      system,
      { role: "user", content: `Question ${i}: what is ${i} + ${i}?` },
    ]);
    const replica = /replica (\d)\/2 by affinity/.exec(first.reason)?.[1];
    assert.ok(replica, first.reason);
    seen.add(replica);
    const second = await ask("fleet", [
      system,
      { role: "user", content: `Question ${i}: what is ${i} + ${i}?` },
      { role: "assistant", content: first.data.choices[0].message.content ?? "" },
      { role: "user", content: "And times two?" },
    ]);
    assert.equal(/replica (\d)\/2/.exec(second.reason)?.[1], replica, "same replica for the next turn");
    const cached = second.data.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    assert.ok(cached > 40, `the replica reused the conversation's prefix (${cached} cached tokens)`);
  }
  assert.equal(seen.size, 2, "different conversations spread over both replicas");
});

test("a killed replica is skipped; with the whole fleet down, requests fall back to local", async () => {
  await replicas[0].stop();
  for (let i = 0; i < 3; i++) {
    const served = await ask("fleet", user(`after the loss of replica 1, ask ${i}`));
    assert.equal(served.route, "fleet");
    assert.match(served.reason, /replica 2\/2/);
  }
  await replicas[1].stop();
  const fallback = await ask("fleet", user("anyone there?"));
  assert.equal(fallback.route, "local");
  assert.match(fallback.reason, /^fallback: upstream 'fleet' failed: connection error/);
  assert.ok((fallback.data.choices[0].message.content ?? "").length >= 0);
});

test("sampling fields an upstream is never sent come back as x-edgellm-warning headers", async () => {
  flaky.script = [{ kind: "ok" }];
  const body = { model: "flaky", messages: user("hi"), top_k: 5, min_p: 0.2 };
  const { data, response } = await client.chat.completions
    .create(body as OpenAI.ChatCompletionCreateParamsNonStreaming)
    .withResponse();
  const warnings = [
    "top_k=5 not sent: the upstream API has no such field",
    "min_p=0.2 not sent: the upstream API has no such field",
  ];
  // fetch joins repeated headers with ", ".
  assert.equal(response.headers.get("x-edgellm-warning"), warnings.join(", "));
  assert.deepEqual((data as { edgellm?: { warnings?: string[] } }).edgellm?.warnings, warnings);
  const sent = flaky.requests.at(-1)?.body ?? {};
  assert.ok(!("top_k" in sent) && !("min_p" in sent));

  const streamed = await client.chat.completions
    .create({ ...body, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming)
    .withResponse();
  assert.equal(streamed.response.headers.get("x-edgellm-warning"), warnings.join(", "));
  for await (const _ of streamed.data);

  const plain = await client.chat.completions.create({ model: "flaky", messages: user("hi") }).withResponse();
  assert.equal(plain.response.headers.get("x-edgellm-warning"), null, "no warning for defaults");
});
