import assert from "node:assert/strict";
import { test } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { pageFixture } from "./browser.js";
import { sseBody } from "./fixtures.js";

// Model output is untrusted: an answer (and a question) full of script, handlers, javascript: and
// data: links, frames and raw HTML must render as inert text. Each payload calls `__xss(id)`, a
// function exposed by the test, or fetches a /pwned/ URL, so anything that runs or loads is seen.
// Run twice: as users get the page (CSP enforced) and with the CSP bypassed, so the sanitizer alone
// is shown to hold as well.

const DATA_HTML = Buffer.from("<script>top.__xss('md-data')</script>").toString("base64");

const PAYLOADS = [
  `<script>__xss("script")</script>`,
  `<script src="/pwned/script.js"></script>`,
  `<img src=x onerror="__xss('img-onerror')">`,
  `<IMG SRC=x OnErRoR=__xss('img-case')>`,
  `<img src="/pwned/img.png">`,
  `<svg onload="__xss('svg-onload')"><circle r="4"/></svg>`,
  `<svg><script>__xss('svg-script')</script></svg>`,
  `<svg><a xlink:href="javascript:__xss('svg-link')"><text y="20">svg link</text></a></svg>`,
  `<iframe src="javascript:top.__xss('iframe-js')"></iframe>`,
  `<iframe srcdoc="<script>top.__xss('iframe-srcdoc')</script>"></iframe>`,
  `<iframe src="/pwned/frame"></iframe>`,
  `<object data="javascript:__xss('object')"></object>`,
  `<embed src="/pwned/embed">`,
  `<a href="javascript:__xss('raw-js-link')">raw js link</a>`,
  `<a href="data:text/html,<script>top.__xss('raw-data-link')</script>">raw data link</a>`,
  `<a href="https://example.com/" onclick="__xss('raw-onclick')">raw onclick link</a>`,
  `<details open ontoggle="__xss('details')"><summary>s</summary></details>`,
  `<input autofocus onfocus="__xss('autofocus')">`,
  `<body onload="__xss('body')">`,
  `<form action="javascript:__xss('form')"><button>go</button></form>`,
  `<meta http-equiv="refresh" content="0;url=javascript:__xss('meta')">`,
  `<base href="/pwned/">`,
  `<link rel="stylesheet" href="/pwned/style.css">`,
  `<style>@import "/pwned/import.css"; .markdown { background: url(/pwned/bg.png) }</style>`,
  `<div style="background-image: url(/pwned/inline-style.png)">styled</div>`,
  `<math><mtext><table><mglyph><style><img src=x onerror=__xss('mxss')>`,
  `<noscript><p title="</noscript><img src=x onerror=__xss('noscript')>">`,
  `<video><source onerror="__xss('video')"></video>`,
  `[md js link](javascript:__xss('md-js'))`,
  `[md js mixed case](JaVaScRiPt:__xss('md-js-case'))`,
  `[md entity](&#106;avascript:__xss('md-entity'))`,
  `[md data link](data:text/html;base64,${DATA_HTML})`,
  `[md vbscript](vbscript:msgbox(1))`,
  `[md relative](/pwned/relative)`,
  `[md ref link][evil]\n\n[evil]: javascript:__xss('md-ref')`,
  `<javascript:__xss('md-autolink')>`,
  `[md title](https://example.com/ "x\\" onmouseover=\\"__xss('md-title')")`,
  `![md image](/pwned/md-image.png)`,
  `![md js image](javascript:__xss('md-img-js'))`,
  `![md img attr](x" onerror="__xss('md-img-attr'))`,
  "```html\n<img src=x onerror=__xss('fenced')>\n```",
  "`<img src=x onerror=__xss('inline-code')>`",
];
const ANSWER = PAYLOADS.join("\n\n");

/** Elements no answer or question may contain. */
const ACTIVE =
  "script, iframe, frame, object, embed, img, svg, math, form, input, meta, base, link, style, video, source, details, noscript";

const web = pageFixture();

interface Opened {
  context: BrowserContext;
  page: Page;
  /** Ids of payloads that ran. */
  fired: string[];
  /** Paths under /pwned/ that something tried to load. */
  loaded: string[];
  headers: Record<string, string>;
}

async function open(bypassCSP: boolean): Promise<Opened> {
  const context = await web.browser.newContext({ baseURL: web.server.url, bypassCSP });
  context.setDefaultTimeout(15_000);
  const fired: string[] = [];
  const loaded: string[] = [];
  await context.exposeFunction("__xss", (id: string) => void fired.push(String(id)));
  context.on("request", (request) => {
    if (request.url().includes("/pwned")) loaded.push(new URL(request.url()).pathname);
  });
  await context.route("**/v1/models", (route) =>
    route.fulfill({ json: { object: "list", data: [{ id: "fake-model", meta: { context_size: 32768 } }] } }),
  );
  await context.route("**/v1/chat/completions", (route) =>
    route.fulfill({ status: 200, headers: { "content-type": "text/event-stream" }, body: sseBody(ANSWER) }),
  );
  const page = await context.newPage();
  const response = await page.goto("/");
  await page.locator(".composer textarea").waitFor();
  return { context, page, fired, loaded, headers: response?.headers() ?? {} };
}

/** Sends every payload as a question and gets every payload back as the answer. */
async function exchange(page: Page): Promise<void> {
  await page.locator(".composer textarea").fill(ANSWER);
  await page.keyboard.press("Enter");
  await page.locator(".message.assistant [data-testid=stats]").waitFor();
}

async function assertInert({ page, fired, loaded }: Opened): Promise<void> {
  const start = page.url();
  // Give anything deferred (onload, autofocus, meta refresh) a chance, then poke every blocked link
  // and hover every element of the answer.
  await page.waitForTimeout(300);
  const blocked = page.locator(".markdown .blocked-link");
  const count = await blocked.count();
  for (let i = 0; i < count; i++) await blocked.nth(i).click();
  for (const el of await page.locator(".markdown *").all())
    await el.hover({ force: true, timeout: 1000 }).catch(() => {});
  await page.waitForTimeout(300);

  assert.deepEqual(fired, [], "no payload ran");
  assert.deepEqual(loaded, [], "nothing was fetched from where the payloads point");
  assert.equal(page.url(), start, "no navigation");
  assert.equal(page.context().pages().length, 1, "no window opened");
  // The 7 Markdown links, the autolink and the 2 images whose targets are not http(s).
  assert.equal(count, 10, "blocked links");
  for (const scope of [".markdown", ".message.user .bubble"])
    assert.equal(await page.locator(scope).locator(ACTIVE).count(), 0, `no active element in ${scope}`);
  const attributes = await page.evaluate(`[...document.querySelectorAll(".transcript *")]
    .flatMap((el) => [...el.attributes].map((a) => a.name))
    .filter((name) => name.startsWith("on") || name === "style" || name === "srcdoc" || name === "xlink:href")`);
  assert.deepEqual(attributes, [], "no handler, style or srcdoc attribute");
  // What stays a link goes to the web, never to a script or a document made of the link itself.
  const hrefs = await page
    .locator(".markdown a")
    .evaluateAll((links) => links.map((a) => a.getAttribute("href")));
  assert.ok(hrefs.length >= 1);
  for (const href of hrefs) assert.match(String(href), /^https:\/\/example\.com\//);
  // And the markup is there to read, as the model wrote it.
  const answer = (await page.locator(".message.assistant .answer").textContent()) ?? "";
  for (const raw of [`<script>__xss("script")</script>`, `<iframe srcdoc=`, `<svg onload=`])
    assert.ok(answer.includes(raw), `the answer shows ${raw}`);
  const question = (await page.locator(".message.user .bubble").textContent()) ?? "";
  assert.ok(question.includes(`<img src=x onerror="__xss('img-onerror')">`), "the question shows as typed");
}

test("the page is served with a strict CSP, nosniff and no-referrer, and cannot be framed", async () => {
  const opened = await open(false);
  const { context, page, headers } = opened;
  const csp = headers["content-security-policy"] ?? "";
  for (const directive of [
    "default-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "connect-src 'self'",
  ])
    assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
  assert.doesNotMatch(csp, /unsafe-eval|script-src[^;]*unsafe-inline/);
  assert.equal(headers["x-content-type-options"], "nosniff");
  assert.equal(headers["referrer-policy"], "no-referrer");

  // An inline script that got into the DOM anyway does not run: the CSP is the second wall.
  await page.evaluate(`{
    const s = document.createElement("script");
    s.textContent = "__xss('inline-script')";
    document.body.append(s);
  }`);
  await page.waitForTimeout(200);
  assert.deepEqual(opened.fired, []);

  // No page can show the chat in a frame (clickjacking), not even one of its own origin; the JSON
  // beside it, which has no such header, is the control that frames load here at all.
  await context.route("**/frame-test.html", (route) =>
    route.fulfill({
      contentType: "text/html",
      body: '<iframe id="control" src="/v1/models"></iframe><iframe id="chat" src="/"></iframe>',
    }),
  );
  const framer = await context.newPage();
  await framer.goto("/frame-test.html", { waitUntil: "load" });
  await framer.frameLocator("#control").getByText("fake-model").waitFor();
  await framer.waitForTimeout(300);
  assert.equal(await framer.frameLocator("#chat").locator("#root").count(), 0, "the chat loaded in a frame");
  await context.close();
});

test("the test can see a script run (without the CSP)", async () => {
  // The control for the tests below: the same detector catches a script that does run.
  const opened = await open(true);
  await opened.page.evaluate(`{
    const s = document.createElement("script");
    s.textContent = "__xss('control')";
    document.body.append(s);
  }`);
  for (let i = 0; i < 20 && opened.fired.length === 0; i++) await opened.page.waitForTimeout(50);
  assert.deepEqual(opened.fired, ["control"]);
  await opened.context.close();
});

for (const bypassCSP of [false, true])
  test(`${PAYLOADS.length} XSS payloads in an answer and a question stay inert${bypassCSP ? " with the CSP bypassed (sanitizer alone)" : ""}`, async () => {
    const opened = await open(bypassCSP);
    const errors: string[] = [];
    opened.page.on("pageerror", (error) => errors.push(error.message));
    await exchange(opened.page);
    await assertInert(opened);
    // Still inert after a reload, rendered from what was saved.
    await opened.page.reload();
    await opened.page.locator(".message.assistant [data-testid=stats]").waitFor();
    await assertInert(opened);
    assert.deepEqual(errors, []);
    await opened.context.close();
  });
