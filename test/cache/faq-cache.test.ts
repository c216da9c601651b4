import assert from "node:assert/strict";
import { test } from "node:test";
import { FaqCacheProvider } from "../../src/cache/faq-cache.js";
import { faqKeyOf, normalizeQuestion } from "../../src/cache/faq-key.js";
import { Metrics } from "../../src/metrics.js";
import {
  type ChatMessage,
  DEFAULT_SAMPLING,
  type GenerateRequest,
  type ModelProvider,
  type StreamPart,
} from "../../src/provider/types.js";

/** A provider that answers from a script and counts the requests that reached it. */
class Scripted implements ModelProvider {
  readonly state = "ready";
  calls = 0;
  constructor(
    public answer: (request: GenerateRequest) => StreamPart[] = () => textAnswer("Edgellm is a server."),
  ) {}
  listModels() {
    return [];
  }
  resolveModel(name: string | undefined) {
    return name ?? "m";
  }
  async *stream(request: GenerateRequest): AsyncGenerator<StreamPart> {
    this.calls++;
    yield* this.answer(request);
  }
}

function textAnswer(text: string, finishReason: "stop" | "length" = "stop", route?: string): StreamPart[] {
  return [
    ...(route ? [{ type: "meta" as const, meta: { route } }] : []),
    { type: "text-delta", text: text.slice(0, 5) },
    { type: "text-delta", text: text.slice(5) },
    { type: "finish", finishReason, usage: { promptTokens: 7, completionTokens: 4, cachedTokens: 0 } },
  ];
}

function ask(question: string, more: Partial<GenerateRequest> & { system?: string } = {}): GenerateRequest {
  const { system, ...rest } = more;
  const messages: ChatMessage[] = [
    ...(system !== undefined ? [{ role: "system" as const, content: system }] : []),
    { role: "user", content: question },
  ];
  return {
    model: "m",
    prompt: { kind: "chat", messages },
    sampling: { ...DEFAULT_SAMPLING, temperature: 0.8 },
    ...rest,
  };
}

async function run(provider: ModelProvider, request: GenerateRequest) {
  const parts: StreamPart[] = [];
  for await (const part of provider.stream(request, { signal: new AbortController().signal }))
    parts.push(part);
  return parts;
}

const cacheOf = (parts: StreamPart[]) => parts.find((p) => p.type === "meta")?.meta.cache;
const textOf = (parts: StreamPart[]) => parts.map((p) => (p.type === "text-delta" ? p.text : "")).join("");

test("normalization: NFKC (full width), case, white space and trailing punctuation", () => {
  assert.equal(normalizeQuestion("  What IS\tedgellm？？ "), "what is edgellm");
  assert.equal(normalizeQuestion("ＷＨＡＴ　ＩＳ　ＥＤＧＥＬＬＭ"), "what is edgellm");
  assert.equal(normalizeQuestion("怎么安装？"), normalizeQuestion("怎么安装。"));
  assert.equal(normalizeQuestion("怎么安装！！～…"), "怎么安装");
  assert.equal(normalizeQuestion("why?!..."), "why");
  assert.notEqual(normalizeQuestion("why not"), normalizeQuestion("why"));
  assert.equal(normalizeQuestion("a?b"), "a?b", "only trailing punctuation goes");
});

test("only first-turn chat questions have a FAQ key, and sampling is not in it", () => {
  const key = faqKeyOf(ask("What is edgellm?"))?.key;
  assert.ok(key);
  assert.equal(
    faqKeyOf(ask("what is EDGELLM", { sampling: { ...DEFAULT_SAMPLING, temperature: 0 } }))?.key,
    key,
  );
  assert.notEqual(faqKeyOf(ask("What is edgellm?", { system: "Be brief." }))?.key, key);
  assert.notEqual(faqKeyOf(ask("What is edgellm?", { model: "other" }))?.key, key);
  assert.notEqual(faqKeyOf(ask("What is edgellm?", { format: { kind: "json" } }))?.key, key);
  const twoTurns = ask("x");
  assert.ok(twoTurns.prompt.kind === "chat");
  twoTurns.prompt.messages.unshift({ role: "user", content: "hi" }, { role: "assistant", content: "hello" });
  assert.equal(faqKeyOf(twoTurns), undefined);
  assert.equal(faqKeyOf(ask("x", { logprobs: { top: 0 } })), undefined);
  assert.equal(faqKeyOf({ ...ask("x"), prompt: { kind: "text", text: "x" } }), undefined);
  assert.equal(faqKeyOf(ask("？？")), undefined, "nothing left to match");
});

test("a normalized variant is answered from the cache at any temperature, as the same parts", async () => {
  const inner = new Scripted();
  const metrics = new Metrics();
  const faq = new FaqCacheProvider(inner, { enabled: true, metrics });
  const first = await run(faq, ask("What is edgellm?"));
  const second = await run(
    faq,
    ask("  what is EDGELLM？", { sampling: { ...DEFAULT_SAMPLING, temperature: 1.5 } }),
  );
  assert.equal(cacheOf(first), "miss");
  assert.equal(cacheOf(second), "hit");
  assert.equal(inner.calls, 1, "the hit did no engine work");
  assert.deepEqual(
    second.filter((p) => p.type === "text-delta"),
    first.filter((p) => p.type === "text-delta"),
    "replayed as the same chunks",
  );
  const finish = second.at(-1);
  assert.ok(finish?.type === "finish");
  assert.equal(finish.usage.cachedTokens, finish.usage.promptTokens);
  const text = await metrics.registry.metrics();
  assert.match(text, /edgellm_faq_cache_lookups_total\{result="hit"\} 1/);
  assert.match(text, /edgellm_faq_cache_lookups_total\{result="miss"\} 1/);
  assert.match(text, /edgellm_faq_cache_entries 1/);
  assert.equal(faq.list()[0].label, "What is edgellm?");
});

test("a different system prompt misses", async () => {
  const inner = new Scripted();
  const faq = new FaqCacheProvider(inner, { enabled: true });
  await run(faq, ask("What is edgellm?", { system: "You are a support bot." }));
  assert.equal(cacheOf(await run(faq, ask("What is edgellm?", { system: "You are a pirate." }))), "miss");
  assert.equal(cacheOf(await run(faq, ask("What is edgellm?"))), "miss");
  assert.equal(cacheOf(await run(faq, ask("what is edgellm", { system: "You are a pirate." }))), "hit");
  assert.equal(inner.calls, 3);
});

test("cut answers, tool calls and upstream answers are never stored; cloud ones are when allowed", async () => {
  const cut = new Scripted(() => textAnswer("Edgellm is a", "length"));
  const faqCut = new FaqCacheProvider(cut, { enabled: true });
  await run(faqCut, ask("q"));
  assert.equal(cacheOf(await run(faqCut, ask("q"))), "miss");
  assert.equal(faqCut.size.entries, 0);

  const tool = new Scripted(() => [
    { type: "tool-call-delta", index: 0, id: "c1", name: "lookup", argumentsDelta: "{}" },
    {
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 1, completionTokens: 1, cachedTokens: 0 },
    },
  ]);
  const faqTool = new FaqCacheProvider(tool, { enabled: true });
  await run(faqTool, ask("q"));
  assert.equal(faqTool.size.entries, 0);

  const cloud = new Scripted(() => textAnswer("From the cloud.", "stop", "openai"));
  const faqCloud = new FaqCacheProvider(cloud, { enabled: true });
  await run(faqCloud, ask("q"));
  assert.equal(faqCloud.size.entries, 0, "not without the owner's leave");
  const allowed = new FaqCacheProvider(cloud, { enabled: true, cacheCloud: true });
  await run(allowed, ask("q"));
  assert.equal(textOf(await run(allowed, ask("Q?"))), "From the cloud.");
  assert.equal(cloud.calls, 2);

  const failing = new Scripted(() => {
    throw new Error("engine down");
  });
  const faqFailing = new FaqCacheProvider(failing, { enabled: true });
  await assert.rejects(run(faqFailing, ask("q")), /engine down/);
  assert.equal(faqFailing.size.entries, 0);
});

test("off by default; prefer uses it anyway; bypass neither reads nor writes", async () => {
  const inner = new Scripted();
  const off = new FaqCacheProvider(inner);
  await run(off, ask("q"));
  assert.equal(cacheOf(await run(off, ask("q"))), undefined);
  assert.equal(inner.calls, 2);
  await run(off, ask("q", { cache: "prefer" }));
  assert.equal(cacheOf(await run(off, ask("q", { cache: "prefer" }))), "hit");

  const on = new FaqCacheProvider(inner, { enabled: true });
  await run(on, ask("q", { cache: "bypass" }));
  assert.equal(on.size.entries, 0, "bypass did not write");
  await run(on, ask("q"));
  const calls = inner.calls;
  assert.equal(cacheOf(await run(on, ask("q", { cache: "bypass" }))), undefined);
  assert.equal(inner.calls, calls + 1, "bypass did not read");
});

test("entries expire after the TTL; an answer longer than max_tokens is not served", async () => {
  let now = 1_000;
  const inner = new Scripted();
  const faq = new FaqCacheProvider(inner, { enabled: true, ttlMs: 500, now: () => now });
  await run(faq, ask("q"));
  now += 499;
  assert.equal(cacheOf(await run(faq, ask("q"))), "hit");
  now += 1;
  assert.equal(cacheOf(await run(faq, ask("q"))), "miss");
  assert.equal(
    cacheOf(await run(faq, ask("q", { sampling: { ...DEFAULT_SAMPLING, maxTokens: 3 } }))),
    "miss",
    "4 tokens stored, 3 allowed",
  );
  assert.equal(faq.list().length, 1);
  assert.equal(faq.clear(), 1);
  assert.equal(cacheOf(await run(faq, ask("q"))), "miss");
});
