import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { PromptReuse } from "../../src/engine/engine-types.js";
import { LocalEngine } from "../../src/engine/local-engine.js";
import { SlotStateStore } from "../../src/engine/slot-states.js";
import { DEFAULT_SAMPLING, type GenerateRequest, type Usage } from "../../src/provider/types.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// The in-process engine's saved slot states, on the real engine (tiny synthetic model), one slot, so every
// other conversation evicts the one before it.

interface Served {
  engine: LocalEngine;
  scheduler: Scheduler;
  reuse: PromptReuse[];
}

async function serve(promptCacheBytes: number): Promise<Served> {
  const engine = await LocalEngine.load({
    modelPath: await tinyModelPath(),
    contextSize: 1024,
    parallel: 1,
    threads: 1,
    promptCacheBytes,
  });
  const reuse: PromptReuse[] = [];
  engine.onPromptReuse = (r) => reuse.push(r);
  const scheduler = new Scheduler();
  scheduler.attach(engine);
  return { engine, scheduler, reuse };
}

let withStore: Served;
let without: Served;

before(async () => {
  withStore = await serve(64 * 1024 * 1024);
  without = await serve(0);
});
after(async () => {
  await without?.scheduler.dispose();
});

const doc = (name: string) =>
  `Document ${name}: ${Array.from({ length: 60 }, (_, i) => `${name} fact ${i} is ${i * 7}.`).join(" ")}`;

function chat(messages: { role: "system" | "user" | "assistant"; content: string }[]): GenerateRequest {
  return {
    model: "tiny",
    prompt: { kind: "chat", messages },
    sampling: { ...DEFAULT_SAMPLING, temperature: 0, maxTokens: 12, ignoreEos: true },
  };
}

async function run(served: Served, request: GenerateRequest): Promise<{ text: string; usage: Usage }> {
  let text = "";
  let usage: Usage | undefined;
  for await (const part of served.scheduler.stream(request, { signal: new AbortController().signal })) {
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") usage = part.usage;
  }
  return { text, usage: usage as Usage };
}

/** Conversation A's first turn, B's first turn (which takes A's only slot), then A's second turn. */
async function conversations(served: Served) {
  const a = [
    { role: "system" as const, content: doc("alpha") },
    { role: "user" as const, content: "What is alpha fact 3?" },
  ];
  const first = await run(served, chat(a));
  await run(
    served,
    chat([
      { role: "system", content: doc("beta") },
      { role: "user", content: "What is beta fact 5?" },
    ]),
  );
  const second = await run(
    served,
    chat([...a, { role: "assistant", content: first.text }, { role: "user", content: "And fact 9?" }]),
  );
  return { first, second };
}

test("a conversation that lost its only slot gets its KV state back instead of recomputing it", async () => {
  const stored = await conversations(withStore);
  const recomputed = await conversations(without);

  // Without the store only the chat template's opening is shared with what the slot held (conversation B).
  assert.ok(recomputed.second.usage.cachedTokens < 64, `${recomputed.second.usage.cachedTokens}`);
  // With it, the first turn's prompt came back (all but the tokens where the answer joins it, which the
  // template renders a little differently in the history).
  assert.ok(
    stored.second.usage.cachedTokens >= stored.first.usage.promptTokens - 4,
    `${stored.second.usage.cachedTokens} cached of ${stored.second.usage.promptTokens}; first turn ${stored.first.usage.promptTokens}`,
  );
  const last = withStore.reuse.at(-1) as PromptReuse;
  assert.ok(last.ram > 0 && last.slot + last.ram === stored.second.usage.cachedTokens, JSON.stringify(last));
  // The restored state is the state: greedy answers are the same as after recomputing.
  assert.equal(stored.first.text, recomputed.first.text);
  assert.equal(stored.second.text, recomputed.second.text);
});

test("states are files in a private folder of this process, removed when the engine is disposed", async () => {
  const mine = async () =>
    (await readdir(os.tmpdir())).filter((n) => n.startsWith(`edgellm-slot-states-${process.pid}-`));
  const folders = await mine();
  assert.equal(folders.length, 1, "the store's folder (the engine without a store has none)");
  const folder = path.join(os.tmpdir(), folders[0]);
  assert.ok((await readdir(folder)).length > 0, "saved states");
  const { mode } = await stat(folder);
  assert.equal(mode & 0o777, 0o700);
  await withStore.scheduler.dispose();
  assert.deepEqual(await mine(), []);
});

/** A stand-in for a node-llama-cpp sequence: its tokens, and a state file of 100 bytes a token. */
function sequenceHolding(tokens: number[]) {
  return {
    contextTokens: tokens,
    async saveStateToFile(file: string) {
      await writeFile(file, Buffer.alloc(tokens.length * 100));
      return { fileSize: tokens.length * 100 };
    },
  } as unknown as Parameters<SlotStateStore["save"]>[0];
}

test("the store keeps the longest state of a conversation once, and the most recently used within its bytes", async () => {
  const parent = await mkdtemp(path.join(os.tmpdir(), "edgellm-store-"));
  const store = (await SlotStateStore.create(25_000, parent)) as SlotStateStore;
  const a = Array.from({ length: 100 }, (_, i) => i);
  const b = Array.from({ length: 100 }, (_, i) => 1000 + i);
  await store.save(sequenceHolding(a.slice(0, 50)));
  await store.save(sequenceHolding(a)); // extends the first: replaces it
  await store.save(sequenceHolding(a.slice(0, 80))); // already held
  assert.deepEqual(store.size, { entries: 1, bytes: 10_000 });
  assert.equal(store.find([...a, 7], 0)?.shared, 100);
  assert.equal(store.find([...a, 7], 100), undefined, "no longer than the slot's own prefix");

  await store.save(sequenceHolding(b));
  await store.save(sequenceHolding([...b.slice(0, 10), 5, 6, 7, ...b.slice(20, 60)]));
  // 10 000 + 10 000 + 5 300 > 25 000: the least recently used (a) went, and its file with it.
  assert.deepEqual(store.size, { entries: 2, bytes: 15_300 });
  assert.equal(store.find(a, 0), undefined);
  await new Promise((r) => setTimeout(r, 50));
  const [folder] = await readdir(parent);
  assert.equal((await readdir(path.join(parent, folder))).length, 2);
  await store.dispose();
});

test("a folder left by a process that was killed is removed by the next store; a live one's is kept", async () => {
  const parent = await mkdtemp(path.join(os.tmpdir(), "edgellm-orphans-"));
  const dead = spawnSync(process.execPath, ["-e", "process.pid"]).pid as number;
  const orphan = path.join(parent, `edgellm-slot-states-${dead}-abc`);
  const live = path.join(parent, `edgellm-slot-states-${process.ppid}-def`);
  for (const dir of [orphan, live]) {
    await mkdir(dir);
    await writeFile(path.join(dir, "0.state"), "x");
  }
  const store = await SlotStateStore.create(1024, parent);
  const left = await readdir(parent);
  assert.ok(!left.includes(path.basename(orphan)), left.join(", "));
  assert.ok(left.includes(path.basename(live)), left.join(", "));
  await store?.dispose();
  assert.equal(await SlotStateStore.create(0, parent), undefined, "0 turns the store off");
});

test("a state dropped while it loads keeps its file until the load is done", async () => {
  const parent = await mkdtemp(path.join(os.tmpdir(), "edgellm-store-"));
  const store = (await SlotStateStore.create(15_000, parent)) as SlotStateStore;
  const a = Array.from({ length: 100 }, (_, i) => i);
  await store.save(sequenceHolding(a));
  const saved = store.find(a, 0)?.state as NonNullable<ReturnType<SlotStateStore["find"]>>["state"];
  let release: () => void = () => {};
  let seen: string | undefined;
  const loader = {
    async loadStateFromFile(file: string) {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      seen = (await readdir(path.dirname(file))).includes(path.basename(file)) ? "there" : "gone";
    },
  } as unknown as Parameters<SlotStateStore["restore"]>[0];
  const restoring = store.restore(loader, saved);
  // Another conversation's state pushes it out of the 15 000 bytes while it loads.
  await store.save(sequenceHolding(a.map((t) => t + 1000)));
  assert.equal(store.find(a, 0), undefined, "dropped from the store");
  release();
  assert.equal(await restoring, true);
  assert.equal(seen, "there");
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(!(await readdir(path.dirname(saved.file))).includes(path.basename(saved.file)), "removed after");
  await store.dispose();
});
