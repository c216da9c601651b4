import assert from "node:assert/strict";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { SecurityOptions } from "../../src/api/security/guard.js";
import { buildServer } from "../../src/api/server.js";
import { MeteredProvider, Metrics } from "../../src/metrics.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { FakeEngine } from "../helpers/fake-engine.js";

/** A built chat page (index.html and one hashed asset), made once per test file. */
let webRoot: Promise<string> | undefined;
function builtPage(): Promise<string> {
  webRoot ??= (async () => {
    const root = await mkdtemp(path.join(tmpdir(), "edgellm-security-web-"));
    await mkdir(path.join(root, "assets"));
    await writeFile(path.join(root, "index.html"), '<!doctype html><div id="root"></div>');
    await writeFile(path.join(root, "assets", "index-abc123.js"), "console.log(1)");
    return root;
  })();
  return webRoot;
}

/** The app in-process on the fake engine, with metrics, a built page and the given security options. */
export async function securedApp(security: SecurityOptions = {}) {
  const engine = new FakeEngine(1, 256);
  const scheduler = new Scheduler({});
  scheduler.attach(engine);
  const metrics = new Metrics();
  const app = await buildServer({
    provider: new MeteredProvider(scheduler, metrics),
    metrics,
    security,
    webRoot: await builtPage(),
  });
  return { app, engine, metrics };
}

export const CHAT = JSON.stringify({ messages: [{ role: "user", content: "abc" }] });

/** A metric's value in the Prometheus text, 0 when the series is absent. */
export async function metric(metrics: Metrics, series: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

export function assertRefused(
  res: { statusCode: number; json(): unknown; headers: Record<string, unknown> },
  status: number,
  code: string,
) {
  assert.equal(res.statusCode, status);
  const { error } = res.json() as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(error).sort(), ["code", "message", "param", "type"]);
  assert.equal(error.code, code);
  assert.equal(error.type, "invalid_request_error");
  assert.equal(res.headers["x-content-type-options"], "nosniff");
  // A refused page must not even read why.
  assert.equal(res.headers["access-control-allow-origin"], undefined);
}
