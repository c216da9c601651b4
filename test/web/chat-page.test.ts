import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Browser, BrowserContext, Locator, Page, Route } from "playwright-core";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";
import { launchChromium } from "./browser.js";
import { SCREENSHOT_CONVERSATION, SCREENSHOT_CONVERSATION_ZH, sseBody } from "./fixtures.js";
import { clearServerChats, type SeedChat, seedServerChats } from "./server-chats.js";

// The chat page in headless Chromium against the real `edgellm serve` with the tiny synthetic model.
// Answers whose content matters (markup, errors) are faked with page.route; the rest is the real model.

/** Set to a directory (e.g. docs/screenshots) to save the README screenshots there. */
const SCREENSHOTS = process.env.EDGELLM_SCREENSHOTS;

let server: ServerProcess;
let browser: Browser;

before(async () => {
  [server, browser] = await Promise.all([
    tinyModelPath().then((model) =>
      // One slot, so the stop test can tell whether the stopped generation still holds it.
      startServerProcess(["--model", model, "--ctx-size", "2048", "--threads", "1", "--parallel", "1"]),
    ),
    launchChromium(),
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

interface Options {
  locale?: string;
  phone?: boolean;
  colorScheme?: "light" | "dark";
  /** Desktop window size. Default 1280×800. */
  size?: { width: number; height: number };
  /** localStorage entries written before the page's first load (not on reloads). */
  storage?: Record<string, unknown>;
  /** Chats on the server (which keeps the history; each test starts with none). */
  serverChats?: SeedChat[];
  /** Answer /v1/conversations with 404, as a server without history does: chats are kept in the browser. */
  browserHistory?: boolean;
}

async function open(
  options: Options = {},
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  // The server has no keys, so every test's page is the same owner: each starts with no chats.
  await clearServerChats(server.url);
  if (options.serverChats) await seedServerChats(server.url, undefined, options.serverChats);
  const context = await browser.newContext({
    baseURL: server.url,
    locale: options.locale ?? "en-US",
    colorScheme: options.colorScheme ?? "light",
    viewport: options.phone ? { width: 390, height: 844 } : (options.size ?? { width: 1280, height: 800 }),
    deviceScaleFactor: options.phone ? 2 : 1,
    isMobile: options.phone,
    hasTouch: options.phone,
    // The page's CSP would block inline handlers anyway; bypassing it makes the XSS test check the
    // sanitizer alone (and lets waitForFunction evaluate its predicates).
    bypassCSP: true,
  });
  context.setDefaultTimeout(15_000);
  if (options.storage)
    await context.addInitScript(
      `if (!sessionStorage.getItem("seeded")) {
        sessionStorage.setItem("seeded", "1");
        for (const [k, v] of Object.entries(${JSON.stringify(options.storage)})) localStorage.setItem(k, JSON.stringify(v));
      }`,
    );
  if (options.browserHistory)
    await context.route("**/v1/conversations**", (route) =>
      route.fulfill({ status: 404, json: { error: { message: "Not found", code: "not_found" } } }),
    );
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto("/");
  await page.locator(".composer textarea").waitFor();
  return { context, page, errors };
}

/** Settings for requests that run long: the real model keeps going until max tokens. */
const longAnswers = (maxTokens: number) => ({
  "edgellm.settings.v1": { maxTokens, ignoreEos: true, temperature: 0.7, topP: 0.95 },
});

/** Request bodies the page sends to /v1/chat/completions. */
function recordRequests(page: Page): Record<string, unknown>[] {
  const bodies: Record<string, unknown>[] = [];
  page.on("request", (request) => {
    if (request.url().endsWith("/v1/chat/completions")) bodies.push(request.postDataJSON());
  });
  return bodies;
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator(".composer textarea").fill(text);
  await page.keyboard.press("Enter");
}

/** A locator's text, "" when it has none. */
async function text(locator: Locator): Promise<string> {
  return (await locator.textContent()) ?? "";
}

const answers = (page: Page) => page.locator(".message.assistant");
const lastAnswer = (page: Page) => answers(page).last();

function fakeAnswer(text: string, headers: Record<string, string> = {}) {
  return (route: Route) =>
    route.fulfill({
      status: 200,
      headers: { "content-type": "text/event-stream", ...headers },
      body: sseBody(text),
    });
}

test("the server serves the page at / and keeps JSON 404s for the API", async () => {
  const res = await fetch(`${server.url}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/html/);
  assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  assert.match(await res.text(), /<div id="root">/);
  const missing = await fetch(`${server.url}/v1/nothing-here`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, "not_found");
});

test("a message streams in token by token with stats, then regenerates", async () => {
  // Long enough to be seen mid-stream on either engine: llama-server writes 240 tokens of the tiny model before
  // the page can be read (this test timed out on it once, waiting for a streaming answer already finished).
  const { context, page, errors } = await open({ storage: longAnswers(1200) });
  const bodies = recordRequests(page);
  // Shift+Enter is a new line, not a send.
  const box = page.locator(".composer textarea");
  await box.fill("first line");
  await box.press("Shift+Enter");
  await box.pressSequentially("second line");
  assert.equal(await box.inputValue(), "first line\nsecond line");
  assert.equal(bodies.length, 0);
  await box.press("Enter");
  await page.locator(".thinking").or(page.locator(".answer.streaming")).first().waitFor();
  // Part of the answer is on screen while it is still streaming, and it keeps growing after that.
  const partial = await text(page.locator(".answer.streaming"));
  assert.ok(partial.length > 0);
  await lastAnswer(page).locator("[data-testid=stats]").waitFor();
  const full = await text(lastAnswer(page).locator(".answer"));
  assert.ok(full.length > partial.length, `streamed ${partial.length} then ${full.length} characters`);
  const stats = await text(lastAnswer(page).locator("[data-testid=stats]"));
  assert.match(stats, /tok\/s/);
  assert.match(stats, /1,?200 tokens/);
  assert.match(stats, /tiny/);
  assert.match(await text(page.locator(".message.user .bubble")), /first line\nsecond line/);

  const body = bodies[0];
  assert.equal(body.stream, true);
  assert.deepEqual(body.stream_options, { include_usage: true });
  assert.match(String(body.model), /tiny/);
  assert.equal(body.max_tokens, 1200);
  assert.equal(body.response_format, undefined);
  assert.deepEqual(body.messages, [{ role: "user", content: "first line\nsecond line" }]);
  assert.match(await text(page.getByTestId("context-meter")), /\/ 2,048/);

  const before = await text(lastAnswer(page).locator(".answer"));
  await page.getByRole("button", { name: "Regenerate" }).click();
  await page.waitForFunction(
    `document.querySelectorAll("[data-testid=stats]").length === 1 && !document.querySelector(".answer.streaming, .thinking")`,
  );
  await lastAnswer(page).locator("[data-testid=stats]").waitFor();
  assert.equal(bodies.length, 2);
  assert.deepEqual(bodies[1].messages, bodies[0].messages);
  assert.equal(await answers(page).count(), 1);
  assert.notEqual(await text(lastAnswer(page).locator(".answer")), before);
  assert.deepEqual(errors, []);
  await context.close();
});

test("stop ends a long generation and the server stops computing", async () => {
  const { context, page } = await open({ storage: longAnswers(1800) });
  await send(page, "Tell me a very long story");
  await lastAnswer(page).locator(".answer.streaming").waitFor();
  // A plain click waits for the button to stop moving, and streaming text keeps the layout moving: at ~400
  // tokens/s the whole answer sometimes arrived first. A forced click lands on coordinates that may be stale.
  // So the click is dispatched on the element itself.
  await page.getByRole("button", { name: "Stop" }).first().dispatchEvent("click");
  await lastAnswer(page).locator("[data-testid=stats]").waitFor();
  assert.match(await text(lastAnswer(page).locator("[data-testid=stats]")), /stopped/);
  const length = (await text(lastAnswer(page))).length;
  await page.waitForTimeout(400);
  assert.equal((await text(lastAnswer(page))).length, length, "no text after stop");
  // 1800 tokens take the tiny model about 8 s; with one slot, a short request now only runs
  // promptly if the stopped one was abandoned.
  const started = Date.now();
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
  });
  assert.equal(res.status, 200);
  assert.ok(Date.now() - started < 3000, `the server was still busy for ${Date.now() - started} ms`);
  await context.close();
});

test("conversations: a second chat, switching back, edit and resend, and both survive a reload", async () => {
  const { context, page } = await open({ storage: longAnswers(8) });
  const bodies = recordRequests(page);
  await send(page, "What is the capital of France?");
  await lastAnswer(page).locator("[data-testid=stats]").waitFor();
  await page.getByRole("button", { name: "New chat" }).click();
  await send(page, "Name three prime numbers");
  await lastAnswer(page).locator("[data-testid=stats]").waitFor();
  const items = page.locator(".chat-item");
  assert.equal(await items.count(), 2);
  await items.filter({ hasText: "capital of France" }).locator(".chat-title").click();
  assert.match(await text(page.locator(".message.user").first()), /capital of France/);

  await page.locator(".message.user").first().hover();
  await page.getByRole("button", { name: "Edit" }).first().click();
  await page.locator(".edit-box").fill("What is the capital of Italy?");
  await page.getByRole("button", { name: "Save & send" }).click();
  await page.waitForFunction(
    `!document.querySelector(".answer.streaming, .thinking") && document.querySelectorAll("[data-testid=stats]").length === 1`,
  );
  assert.equal(await page.locator(".message").count(), 2);
  assert.deepEqual(bodies.at(-1)?.messages, [{ role: "user", content: "What is the capital of Italy?" }]);

  await page.reload();
  await items.first().waitFor();
  assert.equal(await items.count(), 2);
  const titles = await items.allTextContents();
  assert.ok(titles.some((t) => /capital of France/.test(t)));
  assert.ok(titles.some((t) => /three prime numbers/.test(t)));
  // The active chat is remembered too, with its edited question.
  assert.match(await text(page.locator(".message.user").first()), /capital of Italy/);
  await context.close();
});

// test/web/history.test.ts does the same on the server's chats.
test("in the browser's storage, the sidebar searches, renames, deletes, exports and imports chats", async () => {
  const chat = (id: string, title: string, content: string) => ({
    id,
    title,
    createdAt: 1,
    updatedAt: id === "a" ? 2 : 1,
    messages: [{ id: `${id}1`, role: "user", content, createdAt: 1 }],
  });
  const { context, page } = await open({
    browserHistory: true,
    storage: {
      "edgellm.conversations.v1": [
        chat("a", "Cooking", "How long to boil an egg?"),
        chat("b", "Travel", "Best time for Kyoto?"),
      ],
    },
  });
  const items = page.locator(".chat-item");
  await page.getByLabel("Search chats").fill("kyoto"); // matches content, not only titles
  assert.deepEqual(await items.allTextContents(), ["Travel"]);
  await page.getByLabel("Search chats").fill("");

  await items.filter({ hasText: "Cooking" }).hover();
  await items.filter({ hasText: "Cooking" }).getByRole("button", { name: "Rename" }).click();
  await page.locator(".chat-item.editing input").fill("Eggs");
  await page.keyboard.press("Enter");
  await items.filter({ hasText: "Eggs" }).waitFor();

  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export" }).click();
  const file = await (await download).path();
  await items.filter({ hasText: "Travel" }).hover();
  await items.filter({ hasText: "Travel" }).getByRole("button", { name: "Delete" }).click();
  await page.getByRole("button", { name: "Delete?" }).click();
  assert.deepEqual(await items.allTextContents(), ["Eggs"]);

  // Importing the export brings Travel back; Eggs is already here, so it comes back as a copy.
  await page.locator("input[type=file]").setInputFiles(file);
  await page.getByText("Imported 2 chats").waitFor();
  assert.deepEqual((await items.allTextContents()).sort(), ["Eggs", "Eggs", "Travel"]);
  await page.reload();
  await items.first().waitFor();
  assert.equal(await items.count(), 3);
  await context.close();
});

// test/web/xss.test.ts tries many more payloads, with and without the CSP.
test("HTML in an answer is shown as text and never runs", async () => {
  const { context, page } = await open();
  await page.route(
    "**/v1/chat/completions",
    fakeAnswer(
      'Look: <img src=x onerror="window.__pwned = 1"> and <script>window.__pwned = 2</script>\n\n' +
        '[click](javascript:window.__pwned=3) ![pic](x" onerror="window.__pwned=4)\n\n' +
        "```html\n<img src=x onerror=alert(1)>\n```",
      { "x-edgellm-route": "local", "x-edgellm-route-reason": "short%20prompt" },
    ),
  );
  await send(page, "Say something dangerous");
  await lastAnswer(page).locator("[data-testid=stats]").waitFor();
  await page.locator(".markdown .blocked-link").first().click();
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate("window.__pwned"), undefined);
  assert.equal(await page.locator("img[onerror], .transcript img, .transcript script").count(), 0);
  assert.equal(await page.locator("[onerror], [onclick], a[href^=javascript]").count(), 0);
  const shown = await text(lastAnswer(page).locator(".answer"));
  assert.match(shown, /<img src=x onerror="window.__pwned = 1">/, "the markup is visible as text");
  assert.match(await text(lastAnswer(page).locator(".route-tag")), /local \(short prompt\)/);
  await context.close();
});

test("JSON mode and sampling settings go into the request", async () => {
  const { context, page } = await open();
  const bodies = recordRequests(page);
  // A slow first byte: the thinking indicator shows until the answer starts.
  await page.route("**/v1/chat/completions", async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 400));
    await fakeAnswer('{"ok": true}')(route);
  });
  await page.getByRole("button", { name: "Settings" }).click();
  await page.getByLabel("System prompt").fill("Answer in JSON.");
  await page.getByLabel("JSON mode").check();
  await page.getByTestId("max-tokens").fill("77");
  await page.getByRole("button", { name: "Close" }).last().click();
  await send(page, "List two colours");
  await page.locator(".thinking").waitFor();
  await lastAnswer(page).locator("[data-testid=stats]").waitFor();
  assert.equal(await page.locator(".thinking").count(), 0);
  const body = bodies[0];
  assert.deepEqual(body.response_format, { type: "json_object" });
  assert.equal(body.max_tokens, 77);
  assert.equal(body.temperature, 0.7);
  assert.equal(body.top_p, 0.95);
  assert.deepEqual((body.messages as unknown[])[0], { role: "system", content: "Answer in JSON." });
  await context.close();
});

test('with an upstream configured the page asks for "auto" and shows where each answer went', async () => {
  const { context, page } = await open();
  const bodies = recordRequests(page);
  await page.route("**/v1/models", (route) =>
    route.fulfill({
      status: 200,
      contentType: "application/json",
      body: JSON.stringify({
        object: "list",
        data: [
          { id: "tiny", object: "model", meta: { context_size: 2048 } },
          { id: "qwen", object: "model", meta: { context_size: 32768 } },
          { id: "auto", object: "model", meta: { context_size: 2048 } },
        ],
      }),
    }),
  );
  await page.route(
    "**/v1/chat/completions",
    fakeAnswer("A proof, from the cloud.", {
      "x-edgellm-route": "qwen",
      "x-edgellm-route-reason": "auto: difficulty 0.75 >= 0.50 (proof +0.40)",
    }),
  );
  await page.reload();
  await page.locator(".composer textarea").waitFor();
  await send(page, "Prove that there are infinitely many primes.");
  await lastAnswer(page).locator("[data-testid=stats]").waitFor();
  assert.equal(bodies[0].model, "auto");
  const route = await text(lastAnswer(page).locator(".route-tag"));
  assert.match(route, /qwen/);
  assert.match(route, /difficulty 0\.75/);
  await context.close();
});

test("busy, loading and offline errors show a message and a retry that works", async () => {
  const { context, page } = await open();
  const cases = [
    { status: 429, text: /busy/, retryAfter: "2" },
    { status: 503, text: /still loading/, retryAfter: "5", code: "model_loading" },
  ];
  for (const [i, c] of cases.entries()) {
    await page.route("**/v1/chat/completions", (route) =>
      route.fulfill({
        status: c.status,
        headers: { "content-type": "application/json", "retry-after": c.retryAfter },
        body: JSON.stringify({ error: { message: "fake", type: "server_error", code: c.code ?? "x" } }),
      }),
    );
    if (i === 0) await send(page, "Hello?");
    else await page.getByRole("button", { name: "Retry" }).click();
    const card = page.locator(".error-card");
    await card.waitFor();
    assert.match(await text(card), c.text);
    assert.match(await text(card), new RegExp(`${c.retryAfter}s`));
    await page.unroute("**/v1/chat/completions");
  }
  await page.route("**/v1/chat/completions", (route) => route.abort("connectionrefused"));
  await page.getByRole("button", { name: "Retry" }).click();
  await page.locator(".error-card.offline").waitFor();
  assert.match(await text(page.locator(".error-card")), /Can't reach the server/);
  await page.unroute("**/v1/chat/completions");
  await page.route("**/v1/chat/completions", fakeAnswer("Back **online**."));
  await page.getByRole("button", { name: "Retry" }).click();
  await page.locator(".answer strong").waitFor();
  assert.equal(await page.locator(".error-card").count(), 0);
  assert.equal(await answers(page).count(), 1);
  await context.close();
});

test("when the chat outgrows the context, the oldest turns are dropped with a notice", async () => {
  const long = "word ".repeat(200); // about 330 estimated tokens per message
  const messages = [0, 1, 2, 3].flatMap((i) => [
    { id: `u${i}`, role: "user", content: `question ${i} ${long}`, createdAt: i },
    { id: `a${i}`, role: "assistant", content: `answer ${i} ${long}`, createdAt: i },
  ]);
  const { context, page } = await open({
    browserHistory: true,
    storage: {
      "edgellm.conversations.v1": [{ id: "c1", title: "Long chat", createdAt: 1, updatedAt: 1, messages }],
      "edgellm.prefs.v1": { theme: "light", activeId: "c1" },
    },
  });
  const bodies = recordRequests(page);
  await page.route("**/v1/chat/completions", fakeAnswer("Short answer."));
  await send(page, "And one more question?");
  await lastAnswer(page).locator("[data-testid=stats]").waitFor();
  // 2048 tokens, 1024 kept for the answer: only the newest turns fit.
  const sent = bodies[0].messages as { role: string; content: string }[];
  assert.ok(sent.length < 9, `sent ${sent.length} messages`);
  assert.equal(sent[0].role, "user");
  assert.equal(sent.at(-1)?.content, "And one more question?");
  assert.doesNotMatch(sent[0].content, /question 0/);
  const notice = await text(lastAnswer(page).locator(".context-notice"));
  assert.match(notice, new RegExp(`${9 - sent.length} earlier messages were left out`));
  await page.locator(".divider").waitFor();
  await context.close();
});

test("the language follows the browser and can be switched", async () => {
  const zh = await open({ locale: "zh-CN" });
  assert.equal(await zh.page.locator(".composer textarea").getAttribute("placeholder"), "给 edgellm 发消息…");
  await zh.context.close();

  const { context, page } = await open();
  assert.equal(await page.getByRole("button", { name: "New chat" }).count(), 1);
  await page.getByTestId("lang-toggle").click();
  assert.equal(await page.getByRole("button", { name: "新对话" }).count(), 1);
  assert.equal(await page.locator(".composer textarea").getAttribute("placeholder"), "给 edgellm 发消息…");
  assert.equal(await page.locator("html").getAttribute("lang"), "zh-CN");
  await page.reload();
  assert.equal(await page.getByRole("button", { name: "新对话" }).count(), 1, "the choice is remembered");
  await context.close();
});

test("a 390-px phone screen has no horizontal scroll, even with wide code and tables", async () => {
  const { context, page } = await open({
    phone: true,
    browserHistory: true,
    storage: {
      "edgellm.conversations.v1": [SCREENSHOT_CONVERSATION],
      "edgellm.prefs.v1": { theme: "light", activeId: SCREENSHOT_CONVERSATION.id },
    },
  });
  await page.route(
    "**/v1/chat/completions",
    fakeAnswer(`\`\`\`\n${"x".repeat(300)}\n\`\`\`\n\n${"y".repeat(200)}`),
  );
  await send(page, "A very wide answer please");
  await lastAnswer(page).locator("[data-testid=stats]").waitFor();
  const overflow = await page.evaluate<number>(
    "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth",
  );
  assert.ok(overflow <= 0, `the page scrolls ${overflow}px sideways`);
  await page.locator(".sidebar").getByRole("button", { name: "Close" }).waitFor({ state: "hidden" });
  await page.getByRole("button", { name: "Chats" }).click();
  await page.locator(".sidebar.open").getByRole("button", { name: "New chat" }).waitFor();
  await context.close();
});

test("screenshots for the docs", { skip: !SCREENSHOTS }, async () => {
  const dir = path.resolve(SCREENSHOTS ?? ".");
  await mkdir(dir, { recursive: true });
  const shots = [
    { name: "desktop-light", phone: false, colorScheme: "light" as const, locale: "en-US" },
    { name: "desktop-dark", phone: false, colorScheme: "dark" as const, locale: "en-US" },
    { name: "phone-light", phone: true, colorScheme: "light" as const, locale: "en-US" },
    { name: "phone-dark-zh", phone: true, colorScheme: "dark" as const, locale: "zh-CN" },
  ];
  for (const shot of shots) {
    const zh = shot.locale === "zh-CN";
    const active = zh ? SCREENSHOT_CONVERSATION_ZH : SCREENSHOT_CONVERSATION;
    const { context, page } = await open({
      ...shot,
      size: { width: 1280, height: 860 },
      // On the server, as the page keeps them there; in the order the sidebar shows them.
      serverChats: [
        SCREENSHOT_CONVERSATION_ZH,
        SCREENSHOT_CONVERSATION,
        { id: "c2", title: "Plan a weekend in Kyoto", createdAt: 1, messages: [] },
        { id: "c3", title: "Explain transformers simply", createdAt: 1, messages: [] },
      ],
      storage: { "edgellm.prefs.v1": { theme: "system", activeId: active.id } },
    });
    await page.locator(".code-block").first().waitFor();
    await page.screenshot({ path: path.join(dir, `${shot.name}.png`) });
    await context.close();
  }
});
