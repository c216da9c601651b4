import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import type { Browser, BrowserContext, Page, Route } from "playwright-core";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";
import { launchChromium } from "./browser.js";
import { sseBody } from "./fixtures.js";
import { eventually, seedServerChats, serverChats } from "./server-chats.js";

// History on the server: the chat page in headless Chromium against the real `edgellm serve` (tiny synthetic
// model), started with API keys, one per test, because the server keeps each key's conversations apart.
// Answers are scripted with page.route (the synthetic model writes random text); the conversations are the
// real server's.

const KEYS = [
  "sk-hist-share",
  "sk-hist-other",
  "sk-hist-sidebar",
  "sk-hist-move",
  "sk-hist-fallback",
  "sk-hist-close",
];
const [SHARE, OTHER, SIDEBAR, MOVE, FALLBACK, CLOSE] = KEYS;

let server: ServerProcess;
let browser: Browser;

before(async () => {
  [server, browser] = await Promise.all([
    tinyModelPath().then((model) =>
      startServerProcess(["--model", model, "--ctx-size", "2048", "--threads", "1"], {
        EDGELLM_API_KEY: KEYS.join(","),
      }),
    ),
    launchChromium(),
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

interface Options {
  /** localStorage entries written before the page's first load (not on reloads). */
  storage?: Record<string, unknown>;
  /** Answer /v1/conversations with 404, as a server without the API does. */
  noConversationsApi?: boolean;
}

/** A browser context (another device) with `key`, on the page; answers are `answer`, numbered per request. */
async function open(key: string, options: Options = {}): Promise<{ context: BrowserContext; page: Page }> {
  // bypassCSP lets waitForFunction evaluate its string predicates (the page's CSP allows no eval).
  const context = await browser.newContext({ baseURL: server.url, locale: "en-US", bypassCSP: true });
  context.setDefaultTimeout(15_000);
  if (options.storage)
    await context.addInitScript(
      `if (!sessionStorage.getItem("seeded")) {
        sessionStorage.setItem("seeded", "1");
        for (const [k, v] of Object.entries(${JSON.stringify(options.storage)})) localStorage.setItem(k, JSON.stringify(v));
      }`,
    );
  let answers = 0;
  await context.route("**/v1/chat/completions", (route) =>
    route.fulfill({
      status: 200,
      headers: { "content-type": "text/event-stream" },
      body: sseBody(`Answer number ${++answers}.`),
    }),
  );
  if (options.noConversationsApi)
    await context.route("**/v1/conversations**", (route) =>
      route.fulfill({
        status: 404,
        json: { error: { message: "Not found", type: "invalid_request_error", code: "not_found" } },
      }),
    );
  const page = await context.newPage();
  await page.goto(`/#key=${encodeURIComponent(key)}`);
  await page.locator(".composer textarea").waitFor();
  await page.getByTestId("history-mode").waitFor();
  return { context, page };
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator(".composer textarea").fill(text);
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    `!document.querySelector(".answer.streaming, .thinking") && document.querySelector(".message.assistant:last-child [data-testid=stats]")`,
  );
}

const items = (page: Page) => page.locator(".chat-item");
/** The questions and answers on screen, in order. */
const transcript = async (page: Page) =>
  (await page.locator(".message.user .bubble, .message .answer").allTextContents()).map((t) => t.trim());

/** The key's conversations on the server as [title, "role: text"…], once they look like `expected`. */
async function serverShows(key: string, expected: [string, ...string[]][]): Promise<void> {
  await eventually(async () => {
    const chats = await serverChats(server.url, key);
    assert.deepEqual(
      chats.map((c) => [c.metadata.title, ...c.items.map((i) => `${i.role}: ${i.text}`)]),
      expected,
    );
  });
}

test("two browsers with one key see the same chats, and edits and regenerations reach the server", async () => {
  const a = await open(SHARE);
  assert.match((await a.page.getByTestId("history-mode").textContent()) ?? "", /kept on the server/);
  await send(a.page, "What is the capital of France?");
  await serverShows(SHARE, [
    ["What is the capital of France?", "user: What is the capital of France?", "assistant: Answer number 1."],
  ]);
  // The answer's stats went with it, so another device shows them too.
  const [stored] = await serverChats(server.url, SHARE);
  assert.equal(stored.items[1].extras?.stats?.completionTokens, 3);

  // Another device: the chat is listed, and opening it fetches its messages.
  const b = await open(SHARE);
  await items(b.page).filter({ hasText: "capital of France" }).locator(".chat-title").click();
  await b.page.locator(".message.assistant [data-testid=stats]").waitFor();
  assert.deepEqual(await transcript(b.page), ["What is the capital of France?", "Answer number 1."]);
  assert.match((await b.page.getByTestId("stats").textContent()) ?? "", /3 tokens/);
  await send(b.page, "And of Italy?");
  await serverShows(SHARE, [
    [
      "What is the capital of France?",
      "user: What is the capital of France?",
      "assistant: Answer number 1.",
      "user: And of Italy?",
      "assistant: Answer number 1.",
    ],
  ]);
  await a.page.reload();
  await a.page.locator(".message").nth(3).waitFor();
  assert.equal(
    await a.page.locator(".message").count(),
    4,
    "the first browser sees the follow-up after a reload",
  );

  // Editing the second question drops what followed it, on the server too; regenerating replaces the answer.
  await a.page.locator(".message.user").nth(1).hover();
  await a.page.getByRole("button", { name: "Edit" }).nth(1).click();
  await a.page.locator(".edit-box").fill("And of Spain?");
  await a.page.getByRole("button", { name: "Save & send" }).click();
  await a.page.waitForFunction(`document.querySelectorAll("[data-testid=stats]").length === 2`);
  await serverShows(SHARE, [
    [
      "What is the capital of France?",
      "user: What is the capital of France?",
      "assistant: Answer number 1.",
      "user: And of Spain?",
      "assistant: Answer number 2.",
    ],
  ]);
  await a.page.getByRole("button", { name: "Regenerate" }).click();
  await a.page.getByText("Answer number 3.").waitFor();
  await serverShows(SHARE, [
    [
      "What is the capital of France?",
      "user: What is the capital of France?",
      "assistant: Answer number 1.",
      "user: And of Spain?",
      "assistant: Answer number 3.",
    ],
  ]);

  // Another key sees none of it.
  const other = await open(OTHER);
  assert.equal(await items(other.page).count(), 0);
  assert.deepEqual(await serverChats(server.url, OTHER), []);
  for (const { context } of [a, b, other]) await context.close();
});

test("search, rename, delete and export work on the server's chats", async () => {
  const chat = (id: string, title: string, question: string, answer: string) => ({
    id,
    title,
    createdAt: 1_700_000_000_000,
    messages: [
      { role: "user", content: question },
      { role: "assistant", content: answer, stats: { model: "tiny", completionTokens: 5 } },
    ],
  });
  await seedServerChats(server.url, SIDEBAR, [
    chat("c-cook", "Cooking", "How long to boil an egg?", "About nine minutes."),
    chat("c-travel", "Travel", "Best time for Kyoto?", "Spring or autumn."),
  ]);
  const { context, page } = await open(SIDEBAR);
  await items(page).nth(1).waitFor();
  assert.deepEqual(await items(page).allTextContents(), ["Cooking", "Travel"]);

  // Search reads the messages, which the page had not fetched yet.
  await page.getByLabel("Search chats").fill("kyoto");
  await page.waitForFunction(`document.querySelectorAll(".chat-item").length === 1`);
  assert.deepEqual(await items(page).allTextContents(), ["Travel"]);
  await page.getByLabel("Search chats").fill("");

  await items(page).filter({ hasText: "Cooking" }).hover();
  await items(page).filter({ hasText: "Cooking" }).getByRole("button", { name: "Rename" }).click();
  await page.locator(".chat-item.editing input").fill("Eggs");
  await page.keyboard.press("Enter");
  await eventually(async () => {
    const titles = (await serverChats(server.url, SIDEBAR)).map((c) => c.metadata.title);
    assert.deepEqual(titles.sort(), ["Eggs", "Travel"]);
  });

  await page.reload();
  await items(page).nth(1).waitFor();
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export" }).click();
  const file = JSON.parse(await readFile((await (await download).path()) ?? "", "utf8")) as {
    conversations: { title: string; messages: { role: string; content: string }[] }[];
  };
  // Neither chat was opened after the reload: the export fetched both.
  assert.deepEqual(file.conversations.map((c) => [c.title, ...c.messages.map((m) => m.content)]).sort(), [
    ["Eggs", "How long to boil an egg?", "About nine minutes."],
    ["Travel", "Best time for Kyoto?", "Spring or autumn."],
  ]);

  await items(page).filter({ hasText: "Travel" }).hover();
  await items(page).filter({ hasText: "Travel" }).getByRole("button", { name: "Delete" }).click();
  await page.getByRole("button", { name: "Delete?" }).click();
  assert.deepEqual(await items(page).allTextContents(), ["Eggs"]);
  await eventually(async () => {
    assert.deepEqual(
      (await serverChats(server.url, SIDEBAR)).map((c) => c.metadata.title),
      ["Eggs"],
    );
  });
  await page.reload();
  await items(page).first().waitFor();
  assert.deepEqual(await items(page).allTextContents(), ["Eggs"]);
  await context.close();
});

test("the browser's chats from before move to the server once", async () => {
  const browserChat = (id: string, title: string, updatedAt: number) => ({
    id,
    title,
    createdAt: 1,
    updatedAt,
    messages: [
      { id: `${id}-q`, role: "user", content: `${title}?`, createdAt: 1 },
      {
        id: `${id}-a`,
        role: "assistant",
        content: `About ${title}.`,
        createdAt: 2,
        stats: { model: "tiny", completionTokens: 2, tokensPerSecond: 10, finishReason: "stop" },
      },
    ],
  });
  const { context, page } = await open(MOVE, {
    storage: {
      "edgellm.conversations.v1": [browserChat("old-1", "Bread", 3), browserChat("old-2", "Tea", 2)],
    },
  });
  const offer = page.getByTestId("move-offer");
  assert.match((await offer.textContent()) ?? "", /in this browser only: 2/);
  assert.equal(await items(page).count(), 0, "not listed before they are moved");
  await offer.getByRole("button", { name: "Move them to the server" }).click();
  await offer.waitFor({ state: "detached" });
  assert.deepEqual(await items(page).allTextContents(), ["Bread", "Tea"]);
  const chats = await serverChats(server.url, MOVE);
  assert.deepEqual(chats.map((c) => [c.metadata.title, ...c.items.map((i) => i.text)]).sort(), [
    ["Bread", "Bread?", "About Bread."],
    ["Tea", "Tea?", "About Tea."],
  ]);
  assert.equal(chats[0].items[1].extras?.stats?.tokensPerSecond, 10);
  assert.equal(await page.evaluate(`localStorage.getItem("edgellm.conversations.v1")`), "[]");

  // Once: after a reload there is nothing left to move, and the chats come from the server.
  await page.reload();
  await items(page).nth(1).waitFor();
  assert.equal(await offer.count(), 0);
  await items(page).filter({ hasText: "Tea" }).locator(".chat-title").click();
  await page.getByText("About Tea.").waitFor();
  assert.match((await page.locator("[data-testid=stats]").textContent()) ?? "", /tiny/);
  assert.equal((await serverChats(server.url, MOVE)).length, 2);
  await context.close();
});

test("what was not written when the page closed is written at the next start", async () => {
  const { context, page } = await open(CLOSE);
  // The server takes no writes, as when the tab closes before they are sent.
  const hold = (route: Route) => (route.request().method() === "GET" ? route.fallback() : undefined);
  await context.route("**/v1/conversations**", hold);
  await send(page, "Keep this question");
  await context.unroute("**/v1/conversations**", hold);
  assert.deepEqual(await serverChats(server.url, CLOSE), []);
  await page.reload();
  await page.getByText("Answer number 1.").waitFor();
  await serverShows(CLOSE, [
    ["Keep this question", "user: Keep this question", "assistant: Answer number 1."],
  ]);
  await context.close();
});

test("a server without the conversations API: chats stay in the browser, as before", async () => {
  const { context, page } = await open(FALLBACK, { noConversationsApi: true });
  assert.match((await page.getByTestId("history-mode").textContent()) ?? "", /kept in this browser/);
  await send(page, "Where are my chats?");
  await page.waitForFunction(
    `JSON.parse(localStorage.getItem("edgellm.conversations.v1") || "[]").length === 1`,
  );
  await page.reload();
  await page.getByText("Answer number 1.").waitFor();
  assert.deepEqual(await items(page).allTextContents(), ["Where are my chats?"]);
  assert.equal(await page.getByTestId("move-offer").count(), 0);
  assert.deepEqual(await serverChats(server.url, FALLBACK), [], "nothing was written to the server");
  await context.close();
});
