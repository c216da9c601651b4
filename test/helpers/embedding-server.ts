import { symlink } from "node:fs/promises";
import { join } from "node:path";
import { after, before } from "node:test";
import OpenAI from "openai";
import { type ServerProcess, startServerProcess } from "./server-process.js";
import { TEST_MODEL_DIR, tinyModelPath } from "./tiny-model.js";

/** The embedding model's id: the tiny model under another file name, so that it differs from the chat model's. */
export const EMBEDDING_MODEL_ID = "tiny-embedding";

/** Context per input the fixture serves with, in tokens (an input may hold one less). */
export const EMBEDDING_CONTEXT = 256;

/**
 * For an e2e test file: the real server with the tiny synthetic model as both the chat model and (under
 * the id `tiny-embedding`) the embedding model, with the official `openai` client pointed at it.
 */
export function embeddingServerFixture(): { readonly server: ServerProcess; readonly client: OpenAI } {
  const state = {} as { server: ServerProcess; client: OpenAI };
  before(async () => {
    const model = await tinyModelPath();
    const link = join(TEST_MODEL_DIR, `${EMBEDDING_MODEL_ID}.gguf`);
    await symlink(model, link).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
    state.server = await startServerProcess([
      "--model",
      model,
      "--embedding-model",
      link,
      "--threads",
      "1",
      "--parallel",
      "2",
      "--ctx-size",
      String(EMBEDDING_CONTEXT),
    ]);
    state.client = new OpenAI({ baseURL: `${state.server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await state.server?.stop();
  });
  return state;
}
