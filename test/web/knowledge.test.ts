import assert from "node:assert/strict";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Browser, BrowserContext, Page, Route } from "playwright-core";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";
import { launchChromium } from "./browser.js";

// The knowledge panel in headless Chromium against the real `edgellm serve` (tiny synthetic model), started
// with an API key so that every request the panel makes, the upload's XMLHttpRequest included, is checked for
// it. Answers with citations are scripted with page.route: the synthetic model writes random text, never [1].

/** Set to a directory (e.g. docs/screenshots) to save the docs' screenshots there. */
const SCREENSHOTS = process.env.EDGELLM_SCREENSHOTS;
/** One key per test: the server keeps each key's stores apart, so every test starts with none. */
const KEYS = ["sk-kb-store", "sk-kb-errors", "sk-kb-chat", "sk-kb-phone", "sk-kb-shot-1", "sk-kb-shot-2"];

let server: ServerProcess;
let browser: Browser;
let docs: string;

const HANDBOOK = `# edgellm handbook

## Install

### Debian

Install the package with apt and start the service. It listens on port 8080 and keeps its models in
/var/lib/edgellm. The Debian package also installs a systemd unit.

### macOS

Homebrew installs edgellm with its own llama-server build; the first start downloads the default model.

## Configure

Set EDGELLM_API_KEY to require a key from every client. The key travels as an Authorization header.
`;

before(async () => {
  docs = await mkdtemp(path.join(tmpdir(), "edgellm-kb-docs-"));
  await writeFile(path.join(docs, "handbook.md"), HANDBOOK);
  await mkdir(path.join(docs, "notes", "guides"), { recursive: true });
  await writeFile(
    path.join(docs, "notes", "faq.md"),
    "# FAQ\n\n## Ports\n\nThe server answers on port 8080 unless --port says otherwise.\n",
  );
  await writeFile(
    path.join(docs, "notes", "guides", "backup.txt"),
    "Back up the state file before an upgrade. It holds conversations and the knowledge base.\n",
  );
  await writeFile(path.join(docs, "notes", "logo.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
  await writeFile(path.join(docs, "notes", ".hidden.md"), "# Hidden\n");
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

interface Opened {
  context: BrowserContext;
  page: Page;
  errors: string[];
  /** Every API request the page made, with the Authorization header it carried. */
  api: { method: string; path: string; auth?: string }[];
}

async function open(
  key: string,
  options: {
    locale?: string;
    phone?: boolean;
    colorScheme?: "light" | "dark";
    storage?: Record<string, unknown>;
  } = {},
): Promise<Opened> {
  const context = await browser.newContext({
    baseURL: server.url,
    locale: options.locale ?? "en-US",
    colorScheme: options.colorScheme ?? "light",
    viewport: options.phone ? { width: 390, height: 844 } : { width: 1280, height: 860 },
    deviceScaleFactor: options.phone ? 2 : 1,
    isMobile: options.phone,
    hasTouch: options.phone,
    // The panel slides in; without motion, what is measured and shot is where it ends.
    reducedMotion: "reduce",
  });
  context.setDefaultTimeout(20_000);
  if (options.storage)
    await context.addInitScript(
      `if (!sessionStorage.getItem("seeded")) {
        sessionStorage.setItem("seeded", "1");
        for (const [k, v] of Object.entries(${JSON.stringify(options.storage)})) localStorage.setItem(k, JSON.stringify(v));
      }`,
    );
  const api: Opened["api"] = [];
  context.on("request", (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith("/v1/"))
      api.push({ method: request.method(), path: url.pathname, auth: request.headers().authorization });
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`/#key=${key}`);
  await page.locator(".composer textarea").waitFor();
  return { context, page, errors, api };
}

/** Waiting for a file to be indexed: the server's first ingest starts its worker thread, seconds on a busy machine. */
const INDEXED = { timeout: 60_000 };

const panel = (page: Page) => page.getByTestId("knowledge-panel");

async function createStore(
  page: Page,
  name: string,
  labels = { create: "Create", newName: "Name of a new knowledge base" },
) {
  await panel(page).getByLabel(labels.newName).fill(name);
  await panel(page).getByRole("button", { name: labels.create }).click();
  await panel(page).locator("#kb-title", { hasText: name }).waitFor();
}

/** The file row for `name`, once its status is `status`. */
function fileRow(page: Page, name: string, status = "completed") {
  return panel(page).locator(`.kb-file[data-status=${status}]`, { hasText: name });
}

/** An SSE answer whose first chunk carries `citations`, as edgellm sends with `file_search`. */
function citedAnswer(text: string, citations: object[]) {
  return (route: Route) => {
    const chunk = (delta: object, finish: string | null, extra: object = {}) =>
      `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 0, model: "tiny", choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
    const pieces = text.match(/[\s\S]{1,8}/g) ?? [];
    return route.fulfill({
      status: 200,
      headers: { "content-type": "text/event-stream" },
      body:
        chunk({ role: "assistant", content: "" }, null, { citations }) +
        pieces.map((p) => chunk({ content: p }, null)).join("") +
        chunk({}, "stop") +
        "data: [DONE]\n\n",
    });
  };
}

test("a store: create it, upload a file and a folder, watch them index, read the chunks, search", async () => {
  const { context, page, errors, api } = await open(KEYS[0]);
  await page.getByRole("button", { name: "Knowledge", exact: true }).click();
  await panel(page).getByText("No knowledge bases yet.").waitFor();
  await createStore(page, "Handbook");

  await panel(page).getByTestId("pick-files").setInputFiles(path.join(docs, "handbook.md"));
  await panel(page).locator(".kb-file", { hasText: "handbook.md" }).waitFor();
  // Closed, the panel stops polling; the upload and indexing go on, and reopening shows where they are.
  await panel(page).locator(".kb-head").getByRole("button", { name: "Close" }).click();
  await panel(page).waitFor({ state: "detached" });
  const listing = () => api.filter((r) => r.method === "GET" && r.path.endsWith("/files")).length;
  const before = listing();
  await page.waitForTimeout(2500);
  assert.equal(listing(), before, "no polling while the panel is closed");
  await page.getByRole("button", { name: "Knowledge", exact: true }).click();
  await panel(page).locator(".kb-row", { hasText: "Handbook" }).locator(".kb-row-main").click();
  const handbook = fileRow(page, "handbook.md");
  await handbook.waitFor(INDEXED);
  const chunks = Number(/(\d+) chunks?/.exec((await handbook.textContent()) ?? "")?.[1]);
  assert.ok(chunks >= 1, `handbook.md has ${chunks} chunks`);

  // A folder: its files are found recursively; the image is skipped (and said so), the dot-file quietly.
  await panel(page).getByTestId("pick-folder").setInputFiles(path.join(docs, "notes"));
  const skipped = panel(page).getByTestId("skipped");
  await skipped.waitFor();
  assert.match(
    (await skipped.textContent()) ?? "",
    /Skipped a file of a type the knowledge base cannot read: notes\/logo\.png/,
  );
  await fileRow(page, "faq.md").waitFor(INDEXED);
  await fileRow(page, "backup.txt").waitFor(INDEXED);
  assert.equal(await panel(page).locator(".kb-file", { hasText: "hidden" }).count(), 0);
  assert.equal(await panel(page).locator(".kb-file", { hasText: "logo.png" }).count(), 0);

  // Drag and drop: the zone says so while a file is over it, and the dropped file is uploaded.
  const dataTransfer = await page.evaluateHandle(`(() => {
    const data = new DataTransfer();
    data.items.add(new File(["# Dropped\\n\\nA file that came by drag and drop."], "dropped.md", { type: "text/markdown" }));
    return data;
  })()`);
  const zone = panel(page).getByTestId("store-files");
  await zone.dispatchEvent("dragenter", { dataTransfer });
  await panel(page).getByText("Drop to upload").waitFor();
  await zone.dispatchEvent("drop", { dataTransfer });
  await panel(page).getByText("Drop files or folders here").waitFor();
  await fileRow(page, "dropped.md").waitFor(INDEXED);

  // The chunks as indexed, with their heading path.
  await handbook.getByRole("button", { name: "handbook.md", exact: true }).click();
  await panel(page).locator("#kb-title", { hasText: "handbook.md" }).waitFor();
  const chunkItems = panel(page).locator(".kb-chunk");
  assert.equal(await chunkItems.count(), chunks);
  const allChunks = (await chunkItems.allTextContents()).join("\n");
  assert.match(allChunks, /Chunk 1/);
  assert.match(allChunks, /edgellm handbook › Install › Debian/);
  assert.match(allChunks, /\d+ tokens/);
  assert.match(allChunks, /listens on port 8080/);

  // Search: score, file, heading path and text.
  await panel(page).getByRole("button", { name: "Back" }).click();
  await panel(page).getByRole("tab", { name: "Search" }).click();
  await panel(page).getByLabel("Search this knowledge base").fill("which port does the server listen on");
  await panel(page).getByRole("button", { name: "Search", exact: true }).last().click();
  const hit = panel(page).getByTestId("search-hit").first();
  await hit.waitFor();
  const hitText = (await hit.textContent()) ?? "";
  assert.match(hitText, /score \d\.\d\d/);
  assert.match(hitText, /handbook\.md|faq\.md/);
  assert.match(hitText, /Install › Debian|FAQ › Ports/);
  assert.match(hitText, /8080/);
  // A hit opens its file's chunks at that chunk.
  await hit.locator(".kb-hit-file").click();
  await panel(page).locator(".kb-chunk.focused").waitFor();

  // Back to the list: the store's counts, then rename and delete (with a confirmation).
  await panel(page).getByRole("button", { name: "Back" }).click();
  await panel(page).getByRole("button", { name: "Back" }).click();
  const row = panel(page).locator(".kb-row", { hasText: "Handbook" });
  await row.getByText(/^4 files · /).waitFor();
  await row.getByRole("button", { name: "Rename: Handbook" }).click();
  await panel(page).locator(".kb-row.editing input").fill("Ops handbook");
  await page.keyboard.press("Enter");
  await panel(page).locator(".kb-row", { hasText: "Ops handbook" }).waitFor();
  await page.reload();
  await page.getByRole("button", { name: "Knowledge", exact: true }).click();
  const renamed = panel(page).locator(".kb-row", { hasText: "Ops handbook" });
  await renamed.waitFor();
  await renamed.getByRole("button", { name: "Delete: Ops handbook" }).click();
  await renamed.getByRole("button", { name: "Delete?" }).click();
  await panel(page).getByText("No knowledge bases yet.").waitFor();

  // Escape closes the panel.
  await page.keyboard.press("Escape");
  await panel(page).waitFor({ state: "detached" });
  assert.ok(api.some((r) => r.method === "POST" && r.path === "/v1/files"));
  for (const request of api)
    assert.equal(request.auth, `Bearer ${KEYS[0]}`, `${request.method} ${request.path}`);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a file the knowledge base cannot take says why, in words", async () => {
  const { context, page } = await open(KEYS[1]);
  await page.getByRole("button", { name: "Knowledge", exact: true }).click();
  await createStore(page, "Broken things");
  // Not a PDF at all: the server takes the upload, and indexing fails.
  await panel(page)
    .getByTestId("pick-files")
    .setInputFiles([
      {
        name: "scan.pdf",
        mimeType: "application/pdf",
        buffer: Buffer.from("\u0000\u0001 this is not a PDF \u0002"),
      },
      { name: "tool.exe", mimeType: "application/octet-stream", buffer: Buffer.from([0x4d, 0x5a, 0, 1]) },
    ]);
  await panel(page)
    .getByTestId("skipped")
    .getByText(/tool\.exe/)
    .waitFor();
  const failed = panel(page).locator(".kb-file.failed", { hasText: "scan.pdf" });
  await failed.waitFor(INDEXED);
  assert.match((await failed.getByTestId("status").textContent()) ?? "", /Failed/);
  // The page's words first, then the server's.
  assert.match(
    (await failed.locator(".kb-problem strong").textContent()) ?? "",
    /could not be read|cannot read this kind of file|could not be indexed/,
  );
  const detail = (await failed.locator(".kb-problem-detail").textContent()) ?? "";
  assert.ok(detail.length > 10, `the server's message: ${detail}`);

  // Each upload shows its progress: with the upload throttled, the bar is seen part-way.
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 64 * 1024,
  });
  const big = `# Big\n\n${"A line of text that goes on and on about nothing at all.\n".repeat(3000)}`;
  await panel(page)
    .getByTestId("pick-files")
    .setInputFiles({ name: "big.md", mimeType: "text/markdown", buffer: Buffer.from(big) });
  const bar = panel(page).locator('.kb-file[data-upload="big.md"] [role=progressbar]');
  let seen = 0;
  for (let tries = 0; !(seen > 0 && seen < 100); tries++) {
    assert.ok(tries < 400, `no progress seen part-way (last ${seen}%)`);
    seen = Number((await bar.getAttribute("aria-valuenow").catch(() => null)) ?? 0);
    if (!(seen > 0 && seen < 100)) await page.waitForTimeout(25);
  }
  assert.match((await bar.locator("xpath=..").textContent()) ?? "", /Uploading \d+%/);
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  await fileRow(page, "big.md").waitFor(INDEXED);
  await context.close();
});

test("a chat uses a store: file_search in the request, citation chips that open the passage", async () => {
  const { context, page, errors } = await open(KEYS[2]);
  await page.getByRole("button", { name: "Knowledge", exact: true }).click();
  await createStore(page, "Handbook");
  await panel(page).getByTestId("pick-files").setInputFiles(path.join(docs, "handbook.md"));
  await fileRow(page, "handbook.md").waitFor(INDEXED);
  const fileId = await fileRow(page, "handbook.md").getAttribute("data-file-id");
  await page.keyboard.press("Escape");
  await page.keyboard.press("Escape");
  await panel(page).waitFor({ state: "detached" });

  // The composer's menu: check the store; a chip shows it.
  await page.getByRole("button", { name: "Knowledge for this chat" }).click();
  await page
    .locator(".kb-menu")
    .getByLabel(/Handbook/)
    .check();
  await page.keyboard.press("Escape");
  await page.locator(".kb-chip", { hasText: "Handbook" }).waitFor();

  const bodies: Record<string, unknown>[] = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/v1/chat/completions")) bodies.push(r.postDataJSON());
  });
  const storeId = await page.locator(".kb-chip").getAttribute("data-store-id");
  const answer = page.locator(".message.assistant").last();

  // The real server first: a question the handbook does not cover gets its plain "not found" answer
  // (no model call), and no sources.
  await page.locator(".composer textarea").fill("What is the boiling point of tungsten?");
  await page.keyboard.press("Enter");
  await answer.locator("[data-testid=stats]").waitFor();
  assert.deepEqual(bodies[0].file_search, { vector_store_ids: [storeId] });
  assert.match((await answer.locator(".answer").textContent()) ?? "", /could not find/);
  assert.equal(await answer.locator(".sources").count(), 0);

  const passage = "Install the package with apt and start the service. It listens on port 8080 <b>now</b>.";
  await page.route(
    "**/v1/chat/completions",
    citedAnswer("The service listens on port **8080** [1]. Keys go in `EDGELLM_API_KEY` [2][1].", [
      {
        index: 1,
        file_id: fileId,
        filename: "handbook.md",
        heading_path: ["edgellm handbook", "Install", "Debian"],
        text: passage,
        score: 0.82,
        chunk_index: 0,
      },
      {
        index: 2,
        file_id: fileId,
        filename: "handbook.md",
        heading_path: ["edgellm handbook", "Configure"],
        text: "Set EDGELLM_API_KEY to require a key.",
        score: 0.61,
        chunk_index: 1,
      },
    ]),
  );
  await page.locator(".composer textarea").fill("Which port does it listen on?");
  await page.keyboard.press("Enter");
  await page.locator(".message.assistant").nth(1).locator("[data-testid=stats]").waitFor();
  assert.deepEqual(bodies[1].file_search, { vector_store_ids: [storeId] });

  const chips = answer.locator(".markdown button.cite");
  assert.deepEqual(await chips.allTextContents(), ["1", "2", "1"]);
  assert.equal(await answer.locator(".sources li").count(), 2);
  await chips.first().click();
  const dialog = page.getByTestId("citation");
  await dialog.waitFor();
  assert.match((await dialog.locator(".cite-file").textContent()) ?? "", /handbook\.md/);
  assert.equal(
    await dialog.getByTestId("citation-heading").textContent(),
    "edgellm handbook › Install › Debian",
  );
  // The passage is text: its markup shows as written, and makes no element.
  assert.match((await dialog.locator(".cite-text").textContent()) ?? "", /<b>now<\/b>/);
  assert.equal(await dialog.locator(".cite-text b").count(), 0);
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });

  // A reload keeps the chat's store and the answer's citations.
  await page.reload();
  await page.locator(".kb-chip", { hasText: "Handbook" }).waitFor();
  await answer.locator(".markdown button.cite").first().waitFor();
  await answer.locator(".sources button").nth(1).click();
  assert.equal(await page.getByTestId("citation-heading").textContent(), "edgellm handbook › Configure");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a phone in Chinese: the panel fills the screen, with no sideways scroll", async () => {
  const { context, page } = await open(KEYS[3], { phone: true, locale: "zh-CN" });
  await page.getByRole("button", { name: "知识库", exact: true }).click();
  await panel(page).getByText("还没有知识库。").waitFor();
  const box = await panel(page).boundingBox();
  assert.deepEqual(box && [box.x, box.width], [0, 390]);
  await createStore(page, "运维手册", { create: "创建", newName: "新知识库的名称" });
  await panel(page).getByRole("button", { name: "选择文件夹" }).waitFor();
  await panel(page)
    .getByTestId("pick-files")
    .setInputFiles([
      { name: "handbook.md", mimeType: "text/markdown", buffer: Buffer.from(HANDBOOK) },
      { name: "图标.png", mimeType: "image/png", buffer: Buffer.from([0x89, 0x50]) },
    ]);
  await panel(page).getByTestId("skipped").getByText("已跳过 1 个知识库无法读取的文件：图标.png").waitFor();
  const row = fileRow(page, "handbook.md");
  await row.waitFor();
  assert.match((await row.getByTestId("status").textContent()) ?? "", /\d+ 个分块/);
  const overflow = await page.evaluate<number>(
    "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth",
  );
  assert.ok(overflow <= 0, `the page scrolls ${overflow}px sideways`);
  await context.close();
});

/** A chat whose answer cites the handbook, for the desktop screenshot (the chat shows beside the panel). */
const CITED_CHAT = {
  id: "c-kb",
  title: "Where does edgellm listen?",
  createdAt: 1_700_000_000_000,
  updatedAt: 1_800_000_000_000,
  messages: [
    {
      id: "k1",
      role: "user",
      content: "Which port does the Debian package listen on, and how do I require a key?",
      createdAt: 1,
    },
    {
      id: "k2",
      role: "assistant",
      content:
        "The Debian package starts a service that listens on **port 8080** and keeps its models in `/var/lib/edgellm` [1].\n\n" +
        "To require a key from every client, set `EDGELLM_API_KEY`; clients send it in the Authorization header [2].",
      createdAt: 2,
      citations: [
        {
          index: 1,
          fileId: "file-1",
          filename: "handbook.md",
          headingPath: ["edgellm handbook", "Install", "Debian"],
          text: "Install the package with apt and start the service. It listens on port 8080 and keeps its models in /var/lib/edgellm.",
          score: 0.82,
          chunkIndex: 0,
        },
        {
          index: 2,
          fileId: "file-1",
          filename: "handbook.md",
          headingPath: ["edgellm handbook", "Configure"],
          text: "Set EDGELLM_API_KEY to require a key from every client. The key travels as an Authorization header.",
          score: 0.64,
          chunkIndex: 2,
        },
      ],
      stats: {
        model: "qwen2.5-0.5b-instruct-q4_k_m",
        promptTokens: 412,
        completionTokens: 46,
        tokensPerSecond: 38.5,
        finishReason: "stop",
      },
    },
  ],
};

test("screenshots of the knowledge panel for the docs", { skip: !SCREENSHOTS }, async () => {
  const dir = path.resolve(SCREENSHOTS ?? ".");
  await mkdir(dir, { recursive: true });
  for (const shot of [
    { name: "knowledge-desktop", key: KEYS[4], phone: false, locale: "en-US", store: "Team handbook" },
    { name: "knowledge-phone-zh", key: KEYS[5], phone: true, locale: "zh-CN", store: "运维手册" },
  ]) {
    const zh = shot.locale === "zh-CN";
    const { context, page } = await open(shot.key, {
      phone: shot.phone,
      locale: shot.locale,
      storage: {
        "edgellm.conversations.v1": [CITED_CHAT],
        "edgellm.prefs.v1": { theme: "light", activeId: CITED_CHAT.id },
      },
    });
    await page.getByRole("button", { name: zh ? "知识库" : "Knowledge", exact: true }).click();
    await createStore(page, shot.store, zh ? { create: "创建", newName: "新知识库的名称" } : undefined);
    await panel(page).getByTestId("pick-folder").setInputFiles(path.join(docs, "notes"));
    await panel(page)
      .getByTestId("pick-files")
      .setInputFiles([
        { name: "handbook.md", mimeType: "text/markdown", buffer: Buffer.from(HANDBOOK) },
        { name: "scan.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4 not really") },
      ]);
    await fileRow(page, "handbook.md").waitFor(INDEXED);
    await fileRow(page, "backup.txt").waitFor(INDEXED);
    await fileRow(page, "scan.pdf", "failed").waitFor(INDEXED);
    await panel(page)
      .getByRole("button", { name: zh ? "在此对话中使用" : "Use in this chat" })
      .click();
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(dir, `${shot.name}.png`) });
    await context.close();
  }
});
