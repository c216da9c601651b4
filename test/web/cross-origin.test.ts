import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";
import { launchChromium } from "./browser.js";

// Another web site attacks the real `edgellm serve` through a real browser. The sites are names Chromium is
// told to resolve to 127.0.0.1 (`evil.example`, `friend.example`), so nothing leaves the machine and the
// pages are not on a loopback origin (which the server allows by default). `friend.example` is allowed with
// --cors-origins; `evil.example` is not.

let site: http.Server;
let sitePort: number;
let server: ServerProcess;
let browser: Browser;

before(async () => {
  // Any page will do: the attack is the script each test runs in it.
  site = http.createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end("<!doctype html><title>another site</title><p>Nothing to see here.</p>");
  });
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
  sitePort = (site.address() as AddressInfo).port;
  [server, browser] = await Promise.all([
    tinyModelPath().then((model) =>
      startServerProcess([
        "--model",
        model,
        "--threads",
        "1",
        "--ctx-size",
        "512",
        "--cors-origins",
        `http://friend.example:${sitePort}`,
      ]),
    ),
    launchChromium([
      // Every other name fails to resolve (loopback itself excepted): the test never leaves this machine.
      "--host-resolver-rules=MAP evil.example 127.0.0.1, MAP friend.example 127.0.0.1, " +
        "EXCLUDE 127.0.0.1, EXCLUDE localhost, MAP * ~NOTFOUND",
    ]),
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((resolve) => site?.close(resolve));
});

/** Generations the server ran, and requests it refused for their origin or host, from /metrics. */
async function counts(): Promise<{ generations: number; origin: number; host: number }> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const sum = (pattern: RegExp) =>
    [...text.matchAll(pattern)].reduce((total, match) => total + Number(match[1]), 0);
  return {
    generations: sum(/^edgellm_requests_total\{[^}]*\} (\d+)$/gm),
    origin: sum(/^edgellm_refused_requests_total\{code="origin_not_allowed"\} (\d+)$/gm),
    host: sum(/^edgellm_refused_requests_total\{code="host_not_allowed"\} (\d+)$/gm),
  };
}

async function openSite(origin: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  return page;
}

interface Attempt {
  /** The answer, when the page could read it. */
  status?: number;
  body?: string;
  /** A no-cors response: sent, but unreadable. */
  opaque?: boolean;
  /** fetch() rejected: CORS refused the page the answer. */
  error?: string;
}

/** The page POSTs a chat request to edgellm with `fetch`, as a script on any web site can. */
function attempt(page: Page, contentType: string, mode: "cors" | "no-cors" = "cors"): Promise<Attempt> {
  return page.evaluate(
    async ({ url, contentType, mode }) => {
      try {
        const res = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          mode,
          headers: { "content-type": contentType },
          body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
        });
        if (res.type === "opaque") return { opaque: true };
        return { status: res.status, body: await res.text() };
      } catch (error) {
        return { error: String(error) };
      }
    },
    { url: server.url, contentType, mode },
  );
}

test("a page on another site can neither read an answer nor cause a generation", async () => {
  const page = await openSite(`http://evil.example:${sitePort}`);
  const before = await counts();
  // text/plain is a "simple" request: no preflight, so the server itself must refuse it.
  const plain = await attempt(page, "text/plain");
  assert.match(plain.error ?? "", /Failed to fetch/, JSON.stringify(plain));
  // no-cors: the page could never read the answer anyway, but the generation (and the cloud key) is the prize.
  assert.deepEqual(await attempt(page, "text/plain", "no-cors"), { opaque: true });
  // application/json needs a preflight, which is refused: the POST is never sent.
  const json = await attempt(page, "application/json");
  assert.match(json.error ?? "", /Failed to fetch/, JSON.stringify(json));
  const models = await page.evaluate(
    (url) =>
      fetch(`${url}/v1/models`).then(
        (r) => r.status,
        (e: unknown) => String(e),
      ),
    server.url,
  );
  assert.match(String(models), /Failed to fetch/);
  const afterwards = await counts();
  assert.equal(afterwards.generations, before.generations, "a generation ran");
  // Each attempt did reach the server and was refused there (not merely blocked by the browser).
  assert.equal(afterwards.origin - before.origin, 4);
  await page.close();
});

test("the same page on an allowed origin, or on localhost, gets its answers", async () => {
  for (const origin of [`http://friend.example:${sitePort}`, `http://127.0.0.1:${sitePort}`]) {
    const page = await openSite(origin);
    const before = await counts();
    for (const contentType of ["application/json", "text/plain"]) {
      const result = await attempt(page, contentType);
      assert.equal(result.status, 200, `${origin} ${contentType}: ${JSON.stringify(result)}`);
      assert.equal(JSON.parse(result.body ?? "{}").object, "chat.completion");
    }
    assert.equal((await counts()).generations - before.generations, 2);
    await page.close();
  }
});

test("DNS rebinding: the server's own port under another name is refused", async () => {
  const page = await browser.newPage();
  const before = await counts();
  const { port } = new URL(server.url);
  // What a rebound page would load and call: edgellm's port, reached through the attacker's name.
  for (const path of ["/", "/health", "/v1/models"]) {
    const response = await page.goto(`http://evil.example:${port}${path}`);
    assert.equal(response?.status(), 403, path);
    assert.equal(JSON.parse(await response.text()).error.code, "host_not_allowed");
  }
  // And a same-origin POST from that page (no CORS involved) is refused too.
  const result = await page.evaluate(() =>
    fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
    }).then((r) => r.status),
  );
  assert.equal(result, 403);
  const afterwards = await counts();
  assert.equal(afterwards.generations, before.generations);
  // The browser also asks for /favicon.ico, and is refused that too.
  assert.ok(afterwards.host - before.host >= 4);
  await page.close();
});

test("the chat page at the access URL of an exposed server sends the key; without it, it asks for one", async () => {
  const home = await mkdtemp(path.join(tmpdir(), "edgellm-access-url-"));
  // Bound to 0.0.0.0 with no key, the server makes one; the browser only ever connects to 127.0.0.1.
  const exposed = await startServerProcess(
    ["--model", await tinyModelPath(), "--threads", "1", "--ctx-size", "512", "--host", "0.0.0.0"],
    { EDGELLM_HOME: home },
    { ready: false },
  );
  try {
    await exposed.waitForOutput(/^edgellm access URL on this machine: \S+$/m);
    const accessUrl = /^edgellm access URL on this machine: (\S+)$/m.exec(exposed.output())?.[1] ?? "";
    const origin = new URL(accessUrl).origin;
    for (
      let attempt = 0;
      (await fetch(`${origin}/health`).catch(() => undefined))?.status !== 200;
      attempt++
    ) {
      if (attempt > 600) throw new Error(`never ready:\n${exposed.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const keyed = await browser.newContext();
    keyed.setDefaultTimeout(30_000);
    // A short answer: the tiny model would otherwise write until the context is full.
    await keyed.addInitScript(
      `localStorage.setItem("edgellm.settings.v1", JSON.stringify({ maxTokens: 8, temperature: 0.7, topP: 0.95 }))`,
    );
    const page = await keyed.newPage();
    const refused: string[] = [];
    page.on("response", (response) => {
      if (response.status() === 401) refused.push(response.url());
    });
    await page.goto(accessUrl);
    await page.locator(".composer textarea").fill("Hello");
    await page.keyboard.press("Enter");
    await page.locator(".message.assistant [data-testid=stats]").waitFor();
    assert.deepEqual(refused, []);
    assert.equal(page.url(), `${origin}/`, "the key left the address bar");
    await keyed.close();

    // A browser without the key gets the page, and the page asks for the key its API calls need.
    const bare = await browser.newContext();
    const other = await bare.newPage();
    await other.goto(`${origin}/`);
    await other.getByRole("dialog", { name: "API key needed" }).waitFor({ timeout: 30_000 });
    await bare.close();
  } finally {
    await exposed.stop();
    await rm(home, { recursive: true, force: true });
  }
});
