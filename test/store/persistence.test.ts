import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { apiKey } from "../../src/api/security/keys.js";
import { KeyLimiter } from "../../src/api/security/rate-limits.js";
import { buildServer } from "../../src/api/server.js";
import { FaqCacheProvider } from "../../src/cache/faq-cache.js";
import { CachingProvider } from "../../src/cache/response-cache.js";
import { DEFAULT_SAMPLING, type GenerateRequest, type StreamPart } from "../../src/provider/types.js";
import { CloudBudget } from "../../src/router/accounting.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { StateDb } from "../../src/store/state-db.js";
import { FakeEngine } from "../helpers/fake-engine.js";

const tempFile = async () =>
  path.join(await mkdtemp(path.join(tmpdir(), "edgellm-persist-")), "state.sqlite");

test("the cloud budget is read back after a restart, and a new day starts from zero", async () => {
  const file = await tempFile();
  let now = new Date(2026, 10, 24, 12).getTime();
  const before = new CloudBudget(3, () => now);
  const db = new StateDb(file);
  before.persist(db);
  before.add(2);
  before.add(2);
  db.close();
  const reopened = new StateDb(file);
  const after = new CloudBudget(3, () => now);
  after.persist(reopened);
  assert.equal(after.spentToday, 4);
  assert.equal(after.exhausted, true, "a restart does not reset the budget");
  now += 86_400_000;
  assert.equal(after.spentToday, 0);
  reopened.close();
});

test("per-key tokens of the day survive a restart, so the daily limit still holds", async () => {
  const file = await tempFile();
  const key = apiKey("k".repeat(16), { label: "alice", tpd: 100 });
  const db = new StateDb(file);
  new KeyLimiter({}, undefined, Date.now, db).record(key, 120);
  db.close();
  const reopened = new StateDb(file);
  const limiter = new KeyLimiter({}, undefined, Date.now, reopened);
  assert.equal(limiter.tokensToday(key), 120);
  assert.throws(() => limiter.admit(key), /tokens per day: limit 100, used 120/);
  reopened.close();
});

const request = (text: string, temperature = 0): GenerateRequest => ({
  model: "fake-model",
  prompt: { kind: "chat", messages: [{ role: "user", content: text }] },
  sampling: { ...DEFAULT_SAMPLING, temperature },
});
/** A text completion: the response cache's alone, since the FAQ cache takes chat questions only. */
const completion = (text: string): GenerateRequest => ({
  model: "fake-model",
  prompt: { kind: "text", text },
  sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
});

async function run(provider: { stream: CachingProvider["stream"] }, req: GenerateRequest) {
  const parts: StreamPart[] = [];
  for await (const part of provider.stream(req, { signal: new AbortController().signal })) parts.push(part);
  return parts;
}

test("response and FAQ cache entries in the state file are served after a restart", async () => {
  const file = await tempFile();
  const open = () => {
    const db = new StateDb(file);
    const engine = new FakeEngine(1, 4096);
    const scheduler = new Scheduler();
    scheduler.attach(engine);
    const response = new CachingProvider(scheduler, { store: db.entryStore("response", { maxBytes: 1e6 }) });
    const faq = new FaqCacheProvider(response, {
      enabled: true,
      store: db.entryStore("faq", { maxBytes: 1e6 }),
    });
    return { db, engine, faq };
  };
  const first = open();
  await run(first.faq, completion("deterministic"));
  await run(first.faq, request("Sampled?", 0.9));
  first.db.close();
  const second = open();
  const deterministic = await run(second.faq, completion("deterministic"));
  const sampled = await run(second.faq, request("sampled", 0.9));
  assert.equal(deterministic.find((p) => p.type === "meta")?.meta.cache, "hit");
  assert.equal(sampled.find((p) => p.type === "meta")?.meta.cache, "hit");
  assert.equal(second.engine.calls.length, 0, "nothing reached the engine after the restart");
  second.db.close();
});

test("the admin endpoint needs the API key when keys are set, and refuses other web pages", async () => {
  const engine = new FakeEngine(1, 256);
  const scheduler = new Scheduler();
  scheduler.attach(engine);
  const faq = new FaqCacheProvider(scheduler, { enabled: true });
  const app = await buildServer({ provider: faq, faq, security: { keys: [apiKey("secret-key-1")] } });
  assert.equal((await app.inject({ method: "GET", url: "/admin/faq" })).statusCode, 401);
  assert.equal((await app.inject({ method: "DELETE", url: "/admin/faq" })).statusCode, 401);
  const auth = { authorization: "Bearer secret-key-1" };
  const listed = await app.inject({ method: "GET", url: "/admin/faq", headers: auth });
  assert.equal(listed.statusCode, 200);
  assert.deepEqual(listed.json(), { object: "list", data: [] });
  const page = await app.inject({
    method: "DELETE",
    url: "/admin/faq",
    headers: { ...auth, origin: "https://evil.example" },
  });
  assert.equal(page.statusCode, 403);
  const missing = await app.inject({ method: "DELETE", url: "/admin/faq/nope", headers: auth });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().error.code, "cache_entry_not_found");
  await app.close();
});
