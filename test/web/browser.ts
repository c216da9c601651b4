import { existsSync } from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { buildServer } from "../../src/api/server.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";

/** Headless Chromium for the page tests, and the page served without a model. */

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** The built page (`npm run build:web`), as the server finds it from dist/. */
const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../web");

/** @param extraArgs Chromium flags beyond the suite's usual ones. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`No Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH.`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}

/**
 * The real HTTP app (static plugin, headers and all) in this process on a loopback port, with a
 * provider that has no model: for tests that script every API answer with page.route.
 */
export async function servePage(): Promise<{ url: string; close(): Promise<void> }> {
  if (!existsSync(path.join(WEB_ROOT, "index.html")))
    throw new Error(`No page built in ${WEB_ROOT}: run npm run build:web.`);
  const app = await buildServer({ provider: new Scheduler({}) });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  return { url, close: () => app.close() };
}

/**
 * For a test file: the page served without a model and a Chromium, started before the file's tests and closed
 * after them. Read `server` and `browser` inside tests, once `before` has run.
 */
export function pageFixture(): {
  readonly server: { url: string; close(): Promise<void> };
  readonly browser: Browser;
} {
  const state = {} as { server: { url: string; close(): Promise<void> }; browser: Browser };
  before(async () => {
    [state.server, state.browser] = await Promise.all([servePage(), launchChromium()]);
  });
  after(async () => {
    await state.browser?.close();
    await state.server?.close();
  });
  return state;
}
