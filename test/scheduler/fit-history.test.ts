import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatMessage, StreamPart } from "../../src/provider/types.js";
import { BLOCK, splitTurns, turnsToDrop, withoutTurns } from "../../src/scheduler/fit-history.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { FakeEngine } from "../helpers/fake-engine.js";

const user = (content: string): ChatMessage => ({ role: "user", content });
const assistant = (content: string): ChatMessage => ({ role: "assistant", content });

/** A system message, then `turns` question-answer pairs of `size` characters each, then a last question. */
function chat(turns: number, size = 20): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: "system", content: "be brief" }];
  for (let i = 0; i < turns; i++)
    messages.push(user(`q${i}`.padEnd(size, ".")), assistant(`a${i}`.padEnd(size, ".")));
  messages.push(user("last question"));
  return messages;
}

test("turns: the leading system messages and the latest turn are apart; tool calls stay with their turn", () => {
  const split = splitTurns([
    { role: "system", content: "s" },
    user("1"),
    { role: "assistant", content: "", toolCalls: [{ id: "c", name: "f", arguments: "{}" }] },
    { role: "tool", content: "r", toolCallId: "c" },
    assistant("done"),
    user("2"),
    assistant("x"),
    user("3"),
  ] as ChatMessage[]);
  assert.equal(split.head.length, 1);
  assert.deepEqual(
    split.turns.map((t) => t.length),
    [4, 2],
  );
  assert.deepEqual(split.tail, [user("3")]);
  assert.deepEqual(
    withoutTurns(split, 1).map((m) => m.content),
    ["s", "2", "x", "3"],
  );
});

test("turns go in blocks, so the cut stays put while a chat grows and the prompt's start is reused", async () => {
  const budget = 600;
  const length = (messages: ChatMessage[]) => messages.reduce((n, m) => n + m.content.length + 10, 0);
  const cuts: number[] = [];
  for (let turns = 10; turns <= 30; turns++) {
    const split = splitTurns(chat(turns));
    const dropped = await turnsToDrop(split, async (m) => length(m) <= budget);
    assert.ok(dropped !== undefined && dropped % BLOCK === 0, `dropped ${dropped}`);
    assert.ok(length(withoutTurns(split, dropped)) <= budget);
    cuts.push(dropped);
  }
  // The cut only ever moves forward, a block at a time, and stays put for several turns in between.
  for (let i = 1; i < cuts.length; i++) assert.ok((cuts[i] as number) - (cuts[i - 1] as number) <= BLOCK);
  const changes = cuts.filter((c, i) => i > 0 && c !== cuts[i - 1]).length;
  assert.ok(changes <= cuts.length / 2, `the cut moved ${changes} times in ${cuts.length} turns`);
  // When even the latest turn alone cannot fit, nothing is dropped and the caller refuses it.
  assert.equal(await turnsToDrop(splitTurns(chat(3)), async () => false), undefined);
});

async function run(scheduler: Scheduler, messages: ChatMessage[], overflow?: "error" | "truncate") {
  const parts: StreamPart[] = [];
  for await (const part of scheduler.stream(
    {
      model: "fake-model",
      prompt: { kind: "chat", messages },
      sampling: { maxTokens: 4 } as never,
      ...(overflow && { contextOverflow: overflow }),
    },
    { signal: new AbortController().signal },
  ))
    parts.push(part);
  return parts;
}

test("the scheduler refuses an overflowing chat by default, and with truncate drops the oldest turns and says so", async () => {
  const engine = new FakeEngine(1, 400, () => "ok");
  engine.stepDelayMs = 0;
  const scheduler = new Scheduler({});
  scheduler.attach(engine);
  const long = chat(20);
  await assert.rejects(run(scheduler, long), /maximum context length is 400/);
  const parts = await run(scheduler, long, "truncate");
  const meta = parts.find((p) => p.type === "meta");
  assert.ok(meta?.type === "meta" && meta.meta.truncated, JSON.stringify(parts));
  assert.equal((meta.meta.truncated?.turns ?? 0) % BLOCK, 0);
  const prompt = engine.calls.at(-1)?.prompt ?? "";
  assert.ok(prompt.length <= 400 - 4);
  assert.ok(prompt.startsWith("system:be brief|"), "the system message is kept");
  assert.ok(prompt.endsWith("user:last question|"), "the latest turn is kept");
  const finish = parts.find((p) => p.type === "finish");
  assert.ok(finish?.type === "finish" && finish.usage.promptTokens === prompt.length);
  // A chat that fits is left alone, with no meta part.
  const short = await run(scheduler, chat(2), "truncate");
  assert.equal(
    short.some((p) => p.type === "meta"),
    false,
  );
});

test("a server-wide truncate policy and history budget apply unless the request says otherwise", async () => {
  const engine = new FakeEngine(1, 4000, () => "ok");
  engine.stepDelayMs = 0;
  const scheduler = new Scheduler({ historyBudget: 200 });
  scheduler.attach(engine);
  const parts = await run(scheduler, chat(20));
  const meta = parts.find((p) => p.type === "meta");
  assert.ok(meta?.type === "meta" && (meta.meta.truncated?.turns ?? 0) > 0);
  const prompt = engine.calls.at(-1)?.prompt ?? "";
  const bare = "system:be brief|user:last question|".length;
  assert.ok(prompt.length - bare <= 200, `${prompt.length - bare} tokens of history`);

  const strict = new Scheduler({ contextOverflow: "truncate" });
  const small = new FakeEngine(1, 400, () => "ok");
  small.stepDelayMs = 0;
  strict.attach(small);
  assert.ok((await run(strict, chat(20))).some((p) => p.type === "meta"));
  await assert.rejects(run(strict, chat(20), "error"), /maximum context length/);
});
