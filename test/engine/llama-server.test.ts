import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { findLlamaServer } from "../../src/engine/binary/find.js";
import type { LlamaServerEngine as Engine } from "../../src/engine/llama-server/engine.js";
import { LlamaServerEngine } from "../../src/engine/llama-server/engine.js";
import { EngineRestartingError } from "../../src/provider/errors.js";
import { DEFAULT_SAMPLING, type GenerateRequest, type StreamPart } from "../../src/provider/types.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

const binary = (await findLlamaServer())?.path;
const skip = binary ? false : "no llama-server binary (edgellm engine build)";

function request(content: string, extra: Partial<GenerateRequest["sampling"]> = {}): GenerateRequest {
  return {
    model: "tiny",
    prompt: { kind: "chat", messages: [{ role: "user", content }] },
    sampling: { ...DEFAULT_SAMPLING, maxTokens: 16, seed: 7, ...extra },
  };
}

async function collect(stream: AsyncIterable<StreamPart>): Promise<{ text: string; finish?: StreamPart }> {
  let text = "";
  let finish: StreamPart | undefined;
  for await (const part of stream) {
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") finish = part;
  }
  return { text, finish };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(condition: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return condition();
}

describe("llama-server engine", { skip }, () => {
  let engine: Engine;
  let scheduler: Scheduler;
  const warnings: string[] = [];

  before(async () => {
    const noop = () => {};
    engine = await LlamaServerEngine.load({
      binary: binary as string,
      modelPath: await tinyModelPath(),
      contextSize: 512,
      parallel: 1,
      promptCacheMiB: 64,
      restartWaitMs: 60_000,
      logger: { debug: noop, info: noop, error: noop, warn: (_f, m) => warnings.push(m) },
    });
    scheduler = new Scheduler();
    scheduler.attach(engine);
  });
  after(async () => {
    await scheduler?.dispose();
  });

  it("answers, the same seed gives the same text, and the next turn reuses the slot's prefix", async () => {
    const first = await collect(scheduler.stream(request("Hello"), { signal: new AbortController().signal }));
    const again = await collect(scheduler.stream(request("Hello"), { signal: new AbortController().signal }));
    assert.ok(first.text.length > 0);
    assert.equal(again.text, first.text);
    assert.ok(again.finish?.type === "finish" && again.finish.usage.cachedTokens > 0, "cached prompt tokens");
    assert.ok(first.finish?.type === "finish" && first.finish.usage.completionTokens === 16);
    assert.equal(first.finish.finishReason, "length");
  });

  it("a stop string ends the answer and is not part of it", async () => {
    const free = await collect(
      scheduler.stream(request("Hi there"), { signal: new AbortController().signal }),
    );
    const cut = free.text.slice(3, 6);
    assert.ok(cut.length === 3, `answer long enough to cut: ${JSON.stringify(free.text)}`);
    const stopped = await collect(
      scheduler.stream(request("Hi there", { stop: [cut] }), { signal: new AbortController().signal }),
    );
    assert.equal(stopped.text, free.text.slice(0, free.text.indexOf(cut)));
    assert.ok(stopped.finish?.type === "finish" && stopped.finish.finishReason === "stop");
  });

  it("an abort mid-stream stops the child's generation", async () => {
    const controller = new AbortController();
    let parts = 0;
    const long = request("Tell a long story", { maxTokens: 400, ignoreEos: true });
    for await (const part of scheduler.stream(long, { signal: controller.signal })) {
      if (part.type === "text-delta" && ++parts === 3) controller.abort();
    }
    const idle = await until(async () => {
      const slots = await slotStates(engine);
      return slots.every((slot) => !slot.is_processing);
    }, 2_000);
    assert.ok(idle, "llama-server's slot stopped processing");
  });

  it("a child that dies mid-answer fails that request with 503, restarts, and serves the queued one", async () => {
    const pid = engine.childPid as number;
    const controller = new AbortController();
    const running = collect(
      scheduler.stream(request("Story", { maxTokens: 400, ignoreEos: true }), { signal: controller.signal }),
    );
    // parallel 1: this one waits in the scheduler's queue while the first holds the slot.
    const queued = collect(scheduler.stream(request("Hello"), { signal: new AbortController().signal }));
    await until(async () => (await slotStates(engine)).some((slot) => slot.is_processing), 5_000);
    process.kill(pid, "SIGKILL");
    await assert.rejects(running, (error: unknown) => {
      assert.ok(error instanceof EngineRestartingError);
      assert.equal(error.status, 503);
      return true;
    });
    const served = await queued;
    assert.ok(served.text.length > 0, "the queued request is answered after the restart");
    assert.notEqual(engine.childPid, pid);
    assert.ok(
      warnings.some((w) => /killed by SIGKILL; restarting/.test(w)),
      warnings.join("\n"),
    );
  });

  it("dispose stops the child", async () => {
    const pid = engine.childPid as number;
    await scheduler.dispose();
    assert.equal(alive(pid), false);
  });
});

describe("llama-server engine when edgellm is killed", { skip }, () => {
  it("leaves no llama-server running after SIGKILL of its parent", async () => {
    const script = `
      import { LlamaServerEngine } from ${JSON.stringify(new URL("../../src/engine/llama-server/engine.js", import.meta.url).href)};
      const engine = await LlamaServerEngine.load({ binary: ${JSON.stringify(binary)}, modelPath: ${JSON.stringify(await tinyModelPath())},
        contextSize: 256, parallel: 1, promptCacheMiB: 0 });
      process.stdout.write(String(engine.childPid) + "\\n");
      setInterval(() => {}, 1000);`;
    // A file, not `node -e`: node-llama-cpp's binding check fails in an eval'd module.
    const file = path.join(await mkdtemp(path.join(tmpdir(), "edgellm-parent-")), "parent.mjs");
    await writeFile(file, script);
    const parent = spawn(process.execPath, [file], { stdio: ["ignore", "pipe", "inherit"] });
    const [line] = (await once(parent.stdout, "data")) as [Buffer];
    const pid = Number(line.toString().trim());
    assert.ok(pid > 0 && alive(pid), "llama-server runs");
    parent.kill("SIGKILL");
    assert.ok(await until(() => !alive(pid), 5_000), "llama-server is gone after its parent was killed");
  });
});

/** llama-server's own view of its slots (its /slots endpoint, with the child's key). */
async function slotStates(engine: Engine): Promise<{ is_processing: boolean }[]> {
  const { url, key } = engine.childEndpoint();
  const res = await fetch(`${url}/slots`, { headers: { authorization: `Bearer ${key}` } });
  return (await res.json()) as { is_processing: boolean }[];
}
