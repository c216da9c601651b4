import assert from "node:assert/strict";
import { test } from "node:test";
import type { BrowserContext, Page, Request } from "playwright-core";
import { pageFixture } from "./browser.js";
import { sseBody } from "./fixtures.js";

// The chat page with a server that wants an API key. The API is scripted with routes that answer
// 401 invalid_api_key unless the request carries `Authorization: Bearer <KEY>`, as edgellm does when
// keys are set (src/api serves the page itself, so its headers are real).

/** "+" and "/" would be mangled by a careless fragment parser ("+" as a space). */
const KEY = "sk-edgellm-Te+st/Key_42";
const STORAGE = "edgellm.apiKey.v1";

const web = pageFixture();

interface Opened {
  context: BrowserContext;
  page: Page;
  /** Every request the page made to the API, with its Authorization header. */
  api: { path: string; auth?: string }[];
  /** Every request that carried an Authorization header, wherever it went. */
  withAuth: Request[];
  console: string[];
}

async function open(
  path = "/",
  options: { storedKey?: string; locale?: string; keyOptional?: boolean } = {},
): Promise<Opened> {
  const context = await web.browser.newContext({
    baseURL: web.server.url,
    locale: options.locale ?? "en-US",
  });
  context.setDefaultTimeout(15_000);
  if (options.storedKey)
    await context.addInitScript(
      `if (!sessionStorage.getItem("seeded")) {
        sessionStorage.setItem("seeded", "1");
        localStorage.setItem(${JSON.stringify(STORAGE)}, ${JSON.stringify(options.storedKey)});
      }`,
    );
  const api: Opened["api"] = [];
  const withAuth: Request[] = [];
  context.on("request", (request) => {
    if (request.headers().authorization !== undefined) withAuth.push(request);
  });
  await context.route("**/v1/**", (route) => {
    const request = route.request();
    const auth = request.headers().authorization;
    const path = new URL(request.url()).pathname;
    api.push({ path, auth });
    if (auth !== `Bearer ${KEY}` && !options.keyOptional)
      return route.fulfill({
        status: 401,
        json: {
          error: {
            message: "Invalid or missing API key. Send it as Authorization: Bearer <key>.",
            type: "invalid_request_error",
            param: null,
            code: "invalid_api_key",
          },
        },
      });
    if (path === "/v1/models")
      return route.fulfill({
        json: { object: "list", data: [{ id: "keyed-model", meta: { context_size: 4096 } }] },
      });
    return route.fulfill({
      status: 200,
      headers: { "content-type": "text/event-stream" },
      body: sseBody("Hello, **key holder**."),
    });
  });
  const page = await context.newPage();
  const console: string[] = [];
  page.on("console", (message) => console.push(message.text()));
  await page.goto(path);
  await page.locator(".composer textarea").waitFor();
  return { context, page, api, withAuth, console };
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator(".composer textarea").fill(text);
  await page.keyboard.press("Enter");
}

const storedKey = (page: Page) => page.evaluate<string | null>(`localStorage.getItem("${STORAGE}")`);
const keyDialog = (page: Page, name = "API key needed") => page.getByRole("dialog", { name });

/** The key is nowhere in the document: not as text, not in an attribute, not in the address or title. */
async function assertKeyNotInPage(page: Page, key = KEY): Promise<void> {
  const places = await page.evaluate<string[]>(
    `[document.documentElement.outerHTML, document.body.innerText, location.href, document.title]`,
  );
  for (const place of places) assert.ok(!place.includes(key), "the key is in the page");
}

test("a key in #key= is saved, sent with every API call, and removed from the address bar", async () => {
  const { context, page, api, withAuth, console } = await open(`/#key=${encodeURIComponent(KEY)}`);
  await page.locator(".model-name", { hasText: "keyed-model" }).waitFor();
  assert.equal(page.url(), `${web.server.url}/`, "the fragment is gone");
  // Replaced, not pushed: going back leaves the page rather than showing the key again.
  await page.goBack();
  assert.equal(page.url(), "about:blank", "the key is left in the history");
  await page.goForward();
  await page.locator(".composer textarea").waitFor();
  assert.equal(page.url(), `${web.server.url}/`);
  assert.equal(await storedKey(page), KEY);
  assert.equal(await keyDialog(page).count(), 0);

  await send(page, "Hi");
  await page.locator(".answer strong", { hasText: "key holder" }).waitFor();
  const paths = new Set(api.map((r) => r.path));
  assert.ok(paths.has("/v1/models") && paths.has("/v1/chat/completions"), [...paths].join());
  for (const request of api) assert.equal(request.auth, `Bearer ${KEY}`, request.path);
  for (const request of withAuth)
    assert.equal(new URL(request.url()).origin, web.server.url, "sent elsewhere");
  await assertKeyNotInPage(page);

  // A reload keeps the key (localStorage) and the clean address.
  const before = api.length;
  await page.reload();
  await page.locator(".model-name", { hasText: "keyed-model" }).waitFor();
  assert.ok(api.length > before);
  for (const request of api.slice(before)) assert.equal(request.auth, `Bearer ${KEY}`);
  assert.equal(page.url(), `${web.server.url}/`);
  assert.ok(!console.some((line) => line.includes(KEY)), "the key was logged");
  await context.close();
});

test("an access URL pasted into an open tab replaces the key without a reload", async () => {
  const { context, page } = await open("/", { storedKey: "sk-old" });
  await keyDialog(page).waitFor(); // the old key is refused
  await page.keyboard.press("Escape");
  await page.evaluate(`location.hash = "key=${encodeURIComponent(KEY)}&tab=1"`);
  await page.locator(".model-name", { hasText: "keyed-model" }).waitFor();
  assert.equal(await storedKey(page), KEY);
  assert.equal(page.url(), `${web.server.url}/#tab=1`, "only the key leaves the fragment");
  await context.close();
});

test("without a key the page asks for one, refuses a wrong one, and retries the answer with the right one", async () => {
  const { context, page, api, console } = await open();
  // GET /v1/models was refused: the page asks at once, and says so in the header.
  const dialog = keyDialog(page);
  await dialog.waitFor();
  const input = dialog.getByLabel("API key");
  assert.equal(await input.getAttribute("type"), "password");
  assert.equal(await page.evaluate("document.activeElement?.type"), "password", "focus is in the field");
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  await page.getByRole("button", { name: "API key needed" }).waitFor();

  // A message sent anyway fails with a clear message, and the dialog comes back.
  await send(page, "Hello?");
  await page.locator(".error-card.auth", { hasText: "This server needs an API key." }).waitFor();
  await dialog.waitFor();
  assert.equal(api.at(-1)?.auth, undefined);

  await input.fill("sk-wrong");
  await assertKeyNotInPage(page, "sk-wrong"); // typed, but only in the field's value
  await dialog.getByRole("button", { name: "Save key" }).click();
  await dialog.getByRole("alert").filter({ hasText: "That key was not accepted" }).waitFor();
  assert.equal(await storedKey(page), null, "a refused key is not saved");

  await input.fill(" not a key ");
  await dialog.getByRole("button", { name: "Save key" }).click();
  await dialog.getByRole("alert").filter({ hasText: "without spaces" }).waitFor();

  await input.fill(KEY);
  await dialog.getByRole("button", { name: "Save key" }).click();
  await dialog.waitFor({ state: "hidden" });
  // The failed answer is asked again, with the key, and replaces the error.
  await page.locator(".answer strong", { hasText: "key holder" }).waitFor();
  assert.equal(await page.locator(".error-card").count(), 0);
  assert.equal(await page.locator(".message.assistant").count(), 1);
  const chats = api.filter((r) => r.path === "/v1/chat/completions");
  assert.equal(chats.length, 2);
  assert.equal(chats[1].auth, `Bearer ${KEY}`);
  assert.equal(await storedKey(page), KEY);
  await assertKeyNotInPage(page);

  await page.reload();
  await page.locator(".model-name", { hasText: "keyed-model" }).waitFor();
  assert.equal(await keyDialog(page).count(), 0, "the key survives a reload");
  assert.ok(!console.some((line) => line.includes(KEY) || line.includes("sk-wrong")), "a key was logged");
  await context.close();
});

test("a saved key that the server refuses is called out, in Chinese too", async () => {
  const { context, page } = await open("/", { storedKey: "sk-rotated", locale: "zh-CN" });
  const dialog = keyDialog(page, "需要 API 密钥");
  await dialog.waitFor();
  await dialog.getByRole("alert").filter({ hasText: "服务器已不再接受保存的密钥" }).waitFor();
  await dialog.getByLabel("API 密钥").fill(KEY);
  await dialog.getByRole("button", { name: "保存密钥" }).click();
  await page.locator(".model-name", { hasText: "keyed-model" }).waitFor();
  assert.equal(await storedKey(page), KEY);
  await context.close();
});

test("settings change and forget the key", async () => {
  const { context, page, api } = await open("/", { storedKey: KEY });
  await page.locator(".model-name", { hasText: "keyed-model" }).waitFor();
  await page.getByRole("button", { name: "Settings" }).click();
  assert.equal(await page.getByTestId("key-status").textContent(), "A key is saved in this browser.");
  await page.getByRole("button", { name: "Forget key" }).click();
  assert.equal(await storedKey(page), null);
  // The server still wants one: the page says so instead of failing quietly.
  await keyDialog(page).waitFor();
  await page.keyboard.press("Escape");
  await send(page, "Anyone there?");
  await page.locator(".error-card.auth").waitFor();
  await keyDialog(page).waitFor();
  assert.equal(api.at(-1)?.auth, undefined, "a forgotten key is not sent");
  await page.keyboard.press("Escape");

  await page.getByRole("button", { name: "Settings" }).click();
  assert.equal(await page.getByTestId("key-status").textContent(), "No key saved.");
  await page.getByRole("button", { name: "Enter key…" }).click();
  const dialog = keyDialog(page, "API key");
  await dialog.getByLabel("API key").fill(KEY);
  await dialog.getByRole("button", { name: "Save key" }).click();
  await page.locator(".model-name", { hasText: "keyed-model" }).waitFor();
  assert.equal(await storedKey(page), KEY);
  await page.getByRole("button", { name: "Retry" }).click();
  await page.locator(".answer strong", { hasText: "key holder" }).waitFor();
  assert.equal(api.at(-1)?.auth, `Bearer ${KEY}`);
  await assertKeyNotInPage(page);
  await context.close();
});

test("refusals and unavailability each get their own message", async () => {
  const { context, page } = await open("/", { keyOptional: true });
  const cases = [
    { status: 403, code: "origin_not_allowed", text: `--cors-origins ${web.server.url}` },
    { status: 403, code: "host_not_allowed", text: "--allowed-hosts 127.0.0.1" },
    { status: 429, code: "rate_limit_exceeded", text: "request limit", retryAfter: "7200", wait: "2 h" },
    { status: 429, code: "queue_full", text: "busy", retryAfter: "2", wait: "2s" },
    { status: 503, code: "model_loading", text: "still loading", retryAfter: "5", wait: "5s" },
    { status: 503, code: "queue_timeout", text: "busy", retryAfter: "90", wait: "90s" },
    { status: 503, code: "model_load_failed", text: "failed to load" },
    { status: 503, code: "shutting_down", text: "shutting down" },
    { status: 503, code: undefined, text: "unavailable right now" },
  ];
  for (const [i, c] of cases.entries()) {
    await page.route("**/v1/chat/completions", (route) =>
      route.fulfill({
        status: c.status,
        headers: {
          "content-type": "application/json",
          ...(c.retryAfter ? { "retry-after": c.retryAfter } : {}),
        },
        body: c.code ? JSON.stringify({ error: { message: "scripted", type: "x", code: c.code } }) : "<html>",
      }),
    );
    if (i === 0) await send(page, "Hello?");
    else await page.getByRole("button", { name: "Retry" }).click();
    const card = page.locator(".error-card", { hasText: c.text });
    await card.waitFor();
    if (c.wait) assert.match((await card.textContent()) ?? "", new RegExp(`Try again in ${c.wait}`), c.code);
    assert.equal(await keyDialog(page).count(), 0, "no key is asked for");
    await page.unroute("**/v1/chat/completions");
  }
  // The header tells a refused host from an unreachable server.
  await page.route("**/v1/models", (route) =>
    route.fulfill({ status: 403, json: { error: { message: "x", type: "x", code: "host_not_allowed" } } }),
  );
  await page.reload();
  await page.locator(".model-name", { hasText: "Access refused by the server" }).waitFor();
  await context.close();
});
