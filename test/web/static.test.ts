import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { buildServer } from "../../src/api/server.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";

// The static plugin in-process: a built page, a missing build, and the API's 404s left alone.

const app = (webRoot: string | false) => buildServer({ provider: new Scheduler({}), webRoot });

test("serves index.html at / and hashed assets, with the API 404 kept for everything else", async () => {
  const root = await mkdtemp(path.join(tmpdir(), "edgellm-web-"));
  try {
    await mkdir(path.join(root, "assets"));
    await writeFile(path.join(root, "index.html"), '<!doctype html><div id="root"></div>');
    await writeFile(path.join(root, "assets", "index-abc123.js"), "console.log(1)");
    const server = await app(root);
    const page = await server.inject({ method: "GET", url: "/" });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers["content-type"] as string, /text\/html/);
    assert.match(page.headers["content-security-policy"] as string, /script-src 'self'/);
    assert.equal(page.headers["cache-control"], "no-cache");
    const asset = await server.inject({ method: "GET", url: "/assets/index-abc123.js" });
    assert.equal(asset.statusCode, 200);
    assert.match(asset.headers["cache-control"] as string, /immutable/);
    for (const url of ["/v1/nothing", "/assets/missing.js", "/index.htm"]) {
      const missing = await server.inject({ method: "GET", url });
      assert.equal(missing.statusCode, 404, url);
      assert.equal(missing.json().error.code, "not_found", url);
    }
    await server.close();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("without a build, / explains how to make one", async () => {
  const server = await app(path.join(tmpdir(), "edgellm-no-such-build"));
  const res = await server.inject({ method: "GET", url: "/" });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /npm run build/);
  await server.close();
});

test("webRoot: false serves no page", async () => {
  const server = await app(false);
  const res = await server.inject({ method: "GET", url: "/" });
  assert.equal(res.statusCode, 404);
  await server.close();
});
