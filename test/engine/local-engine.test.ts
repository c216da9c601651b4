import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { LocalEngine } from "../../src/engine/local-engine.js";
import {
  DEFAULT_SAMPLING,
  type GenerateRequest,
  type StreamPart,
  type Usage,
} from "../../src/provider/types.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// The real engine (node-llama-cpp) on the tiny synthetic model, behind the real scheduler.
let engine: LocalEngine;
let scheduler: Scheduler;

before(async () => {
  engine = await LocalEngine.load({
    modelPath: await tinyModelPath(),
    contextSize: 1024,
    parallel: 3,
    threads: 1,
  });
  scheduler = new Scheduler();
  scheduler.attach(engine);
});

after(async () => {
  await scheduler.dispose();
});

function chat(
  content: string,
  sampling: Partial<GenerateRequest["sampling"]> = {},
  history: GenerateRequest["prompt"] = { kind: "chat", messages: [] },
): GenerateRequest {
  const messages = history.kind === "chat" ? [...history.messages, { role: "user" as const, content }] : [];
  return {
    model: engine.modelId,
    prompt: { kind: "chat", messages },
    sampling: { ...DEFAULT_SAMPLING, ...sampling },
  };
}

async function run(request: GenerateRequest, signal = new AbortController().signal) {
  let text = "";
  let usage: Usage | undefined;
  let finishReason: string | undefined;
  const parts: StreamPart[] = [];
  for await (const part of scheduler.stream(request, { signal })) {
    parts.push(part);
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") {
      usage = part.usage;
      finishReason = part.finishReason;
    }
  }
  return { text, usage, finishReason, parts };
}

test("the chat template is the GGUF's Qwen2.5 ChatML with its default system prompt", async () => {
  const rendered = engine.renderChat({ kind: "chat", messages: [{ role: "user", content: "hi" }] });
  assert.equal(
    rendered,
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
      "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
  );
  const tokens = await engine.tokenize({ kind: "chat", messages: [{ role: "user", content: "hi" }] });
  assert.equal(tokens[0], 151644, "<|im_start|> is parsed as one special token");
});

test("max_tokens with ignore_eos yields exactly that many tokens and finish_reason length", async () => {
  const result = await run(chat("count to ten", { maxTokens: 9, ignoreEos: true, seed: 1 }));
  assert.equal(result.usage?.completionTokens, 9);
  assert.equal(result.finishReason, "length");
  assert.ok(result.text.length > 0);
});

test("concurrent streams all complete, each with the text it would have had alone", async () => {
  const requests = [1, 2, 3, 4, 5].map((seed) =>
    chat(`question number ${seed}`, { temperature: 0, maxTokens: 12, ignoreEos: true, seed }),
  );
  const alone = [];
  for (const request of requests) alone.push(await run(request));
  const together = await Promise.all(requests.map((request) => run(request)));
  for (let i = 0; i < requests.length; i++) {
    assert.equal(together[i].finishReason, "length");
    assert.equal(together[i].usage?.completionTokens, 12);
    assert.equal(together[i].text, alone[i].text, `stream ${i} differs when batched`);
  }
});

test("a cancelled stream frees its slot", async () => {
  const controller = new AbortController();
  const stream = run(chat("go on forever", { maxTokens: 900, ignoreEos: true }), controller.signal);
  const watcher = (async () => {
    while (scheduler.activeSlots === 0) await new Promise((r) => setTimeout(r, 1));
  })();
  await watcher;
  controller.abort();
  const result = await stream;
  assert.equal(result.finishReason, undefined, "an aborted stream has no finish part");
  // Aborted as its slot was taken, it stops within a few tokens, far from its 900.
  const generated = result.parts.filter((part) => part.type === "text-delta").length;
  assert.ok(generated < 450, `${generated} text parts after the abort`);
  assert.equal(scheduler.activeSlots, 0);
  // All three slots serve again at once.
  const again = await Promise.all([1, 2, 3].map((seed) => run(chat("again", { maxTokens: 3, seed }))));
  assert.ok(again.every((r) => r.usage !== undefined));
});

test("the second turn of a conversation reuses the first turn's KV cache", async () => {
  const first = chat("Tell me about Beijing.", { temperature: 0, maxTokens: 10, ignoreEos: true });
  const one = await run(first);
  assert.ok(one.usage);
  const history = first.prompt.kind === "chat" ? first.prompt.messages : [];
  const second = chat(
    "And Shanghai?",
    { temperature: 0, maxTokens: 10, ignoreEos: true },
    {
      kind: "chat",
      messages: [...history, { role: "assistant", content: one.text }],
    },
  );
  const two = await run(second);
  assert.ok(two.usage);
  // Everything up to the first answer was already in the slot. (Less one token: BPE may merge the
  // template's "\n" after "assistant" with the answer's first characters when the history is re-tokenized.)
  assert.ok(
    two.usage.cachedTokens >= one.usage.promptTokens - 1,
    `cached ${two.usage.cachedTokens} of ${two.usage.promptTokens}; first prompt ${one.usage.promptTokens}`,
  );
  assert.ok(two.usage.cachedTokens < two.usage.promptTokens);
});

test("a stop string ends generation on the real tokenizer without leaking part of it", async () => {
  const free = await run(
    chat("write something", { maxTokens: 30, ignoreEos: true, seed: 5, temperature: 1 }),
  );
  const stop = free.text.slice(10, 13);
  assert.ok(stop.length === 3, JSON.stringify(free.text));
  const stopped = await run(
    chat("write something", { maxTokens: 30, ignoreEos: true, seed: 5, temperature: 1, stop: [stop] }),
  );
  assert.equal(stopped.finishReason, "stop");
  assert.equal(stopped.text, free.text.slice(0, free.text.indexOf(stop)));
});
