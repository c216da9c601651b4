import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import OpenAI, { toFile } from "openai";
import { startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// The knowledge base across restarts, on the real server and the shared corpus's real documents: a kill -9
// in the middle of a batch loses no file that was completed, leaves the state file sound, and the next start
// resumes what was in progress; a graceful restart keeps everything searchable.

const CORPUS = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../../../shared/kb-corpus/tldr-en",
);

async function serve(stateFile: string) {
  const server = await startServerProcess(["--model", await tinyModelPath(), "--threads", "1"], {
    EDGELLM_STATE_FILE: stateFile,
  });
  return { server, client: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 }) };
}

test("kill -9 during ingestion: completed files stay, the rest resume, the file stays sound", async () => {
  const stateFile = path.join(mkdtempSync(path.join(tmpdir(), "edgellm-kb-kill-")), "state.sqlite");
  const names = readdirSync(CORPUS).sort().slice(0, 300);
  let { server, client } = await serve(stateFile);
  let storeId: string;
  let completedBefore: Set<string>;
  try {
    const ids: string[] = new Array(names.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < names.length; i = next++) {
          const file = await toFile(readFileSync(path.join(CORPUS, names[i] as string)), names[i]);
          ids[i] = (await client.files.create({ file, purpose: "assistants" })).id;
        }
      }),
    );
    const store = await client.vectorStores.create({ name: "tldr" });
    storeId = store.id;
    await client.vectorStores.fileBatches.create(store.id, { file_ids: ids });
    // Wait until part of the batch is in, then kill the server outright.
    for (;;) {
      const counts = (await client.vectorStores.retrieve(store.id)).file_counts;
      if (counts.completed >= 20) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const done = await client.vectorStores.files.list(store.id, { filter: "completed", limit: 100 });
    completedBefore = new Set(done.data.map((f) => f.id));
    server.process.kill("SIGKILL");
    await server.exited;
  } catch (error) {
    await server.stop();
    throw error;
  }

  const db = new Database(stateFile, { readonly: true });
  assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
  db.close();

  ({ server, client } = await serve(stateFile));
  try {
    for (const id of completedBefore) {
      const file = await client.vectorStores.files.retrieve(id, { vector_store_id: storeId });
      assert.equal(file.status, "completed", `${id} was completed before the kill`);
    }
    for (let i = 0; ; i++) {
      const store = await client.vectorStores.retrieve(storeId);
      if (store.status === "completed") {
        assert.equal(store.file_counts.completed, names.length);
        break;
      }
      assert.ok(i < 1200, "the resumed ingestion never finished");
      await new Promise((r) => setTimeout(r, 50));
    }
    const hit = await client.vectorStores.search(storeId, {
      query: "tar archive extract",
      max_num_results: 3,
    });
    assert.ok(hit.data.length > 0);
  } finally {
    await server.stop();
  }

  // A graceful restart: everything is still there.
  ({ server, client } = await serve(stateFile));
  try {
    const store = await client.vectorStores.retrieve(storeId);
    assert.equal(store.file_counts.completed, names.length);
    assert.ok((await client.vectorStores.search(storeId, { query: "list files" })).data.length > 0);
  } finally {
    await server.stop();
  }
});
