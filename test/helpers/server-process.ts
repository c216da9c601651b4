import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path, { join } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { TEST_MODEL_DIR, tinyModelPath } from "./tiny-model.js";

/** The compiled CLI, as `npx edgellm` runs it. */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/index.js");

export interface ServerProcess {
  url: string;
  process: ChildProcess;
  /** Everything the process wrote, for assertions and failure messages. */
  output: () => string;
  /** Resolves when the output matches `pattern`; rejects after `timeoutMs` or if the process exits first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Settles when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/**
 * Starts the real `edgellm serve` in a child process on port 0 and waits until /health says ready (or,
 * with `ready: false`, only until the port is open).
 */
export async function startServerProcess(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  { ready = true }: { ready?: boolean } = {},
): Promise<ServerProcess> {
  // Each server gets its own state file unless the test picks a home or a file: one server per file.
  const state =
    env.EDGELLM_HOME === undefined && env.EDGELLM_STATE_FILE === undefined
      ? { EDGELLM_STATE_FILE: path.join(mkdtempSync(path.join(tmpdir(), "edgellm-state-")), "state.sqlite") }
      : {};
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--log-level", "warn", ...args], {
    env: { ...process.env, ...state, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const onData = () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout.off("data", onData);
        resolve(match[1]);
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  for (let attempt = 0; ready; attempt++) {
    const res = await fetch(`${url}/health`).catch(() => undefined);
    if (res?.status === 200) break;
    if (attempt > 600 || child.exitCode !== null) throw new Error(`server never became ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    process: child,
    output: () => output,
    exited,
    async waitForOutput(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output)) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`server exited before printing ${pattern}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`server did not print ${pattern}:\n${output}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * For an e2e test file: starts the real server on the tiny synthetic model (one thread, which is
 * fastest for it) before the file's tests, with the official `openai` client pointed at it, and stops
 * it after them. Read `server` and `client` inside tests, once `before` has run.
 */
export function tinyServerFixture(args: string[] = []): {
  readonly server: ServerProcess;
  readonly client: OpenAI;
} {
  const state = {} as { server: ServerProcess; client: OpenAI };
  before(async () => {
    state.server = await startServerProcess(["--model", await tinyModelPath(), "--threads", "1", ...args]);
    state.client = new OpenAI({ baseURL: `${state.server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await state.server?.stop();
  });
  return state;
}

/** The embedding model's id: the tiny model under another file name, so that it differs from the chat model's. */
export const EMBEDDING_MODEL_ID = "tiny-embedding";

/** Context per input the fixture serves with, in tokens (an input may hold one less). */
export const EMBEDDING_CONTEXT = 256;

/** The tiny model under the embedding model's file name (a link beside it), so that the two ids differ. */
export async function embeddingModelPath(): Promise<string> {
  const link = join(TEST_MODEL_DIR, `${EMBEDDING_MODEL_ID}.gguf`);
  await symlink(await tinyModelPath(), link).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
  return link;
}

/**
 * For an e2e test file: the real server on the tiny synthetic model (one thread) with `args` besides, started
 * before the file's tests and stopped after them, with the official `openai` client pointed at it.
 */
export function serverFixture(args: () => Promise<string[]> | string[] = () => []): {
  readonly server: ServerProcess;
  readonly client: OpenAI;
} {
  const state = {} as { server: ServerProcess; client: OpenAI };
  before(async () => {
    state.server = await startServerProcess([
      "--model",
      await tinyModelPath(),
      "--threads",
      "1",
      ...(await args()),
    ]);
    state.client = new OpenAI({ baseURL: `${state.server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await state.server?.stop();
  });
  return state;
}

/**
 * For an e2e test file: the real server with the tiny synthetic model as both the chat model and (under
 * the id `tiny-embedding`) the embedding model, with the official `openai` client pointed at it.
 */
export function embeddingServerFixture(): { readonly server: ServerProcess; readonly client: OpenAI } {
  return serverFixture(async () => [
    "--embedding-model",
    await embeddingModelPath(),
    "--parallel",
    "2",
    "--ctx-size",
    String(EMBEDDING_CONTEXT),
  ]);
}
