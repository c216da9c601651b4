import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type OpenAI from "openai";
import { tinyServerFixture } from "../helpers/server-process.js";

/**
 * More conversations than slots: with the llama-server engine, a conversation that lost its slot comes back
 * from the RAM prompt cache instead of being recomputed. Only that engine has the cache; on the in-process
 * engine (npm test's second pass) this file is skipped.
 */
const skip =
  process.env.EDGELLM_ENGINE === "in-process" ? "the in-process engine has no RAM prompt cache" : false;

describe("RAM prompt cache across conversations", { skip }, () => {
  const ctx = tinyServerFixture(["--parallel", "2", "--ctx-size", "1024", "--no-response-cache"]);

  async function ask(messages: OpenAI.ChatCompletionMessageParam[], seed: number) {
    const answer = await ctx.client.chat.completions.create({
      messages,
      model: "local",
      max_tokens: 8,
      seed,
    });
    messages.push({ role: "assistant", content: answer.choices[0].message.content ?? "" });
    return answer.usage as OpenAI.CompletionUsage;
  }

  it("a conversation evicted from its slot reuses its history on the next turn, and /metrics says where from", async () => {
    const health = (await (await fetch(`${ctx.server.url}/health`)).json()) as { engine?: string };
    assert.equal(health.engine, "llama-server", "this file runs on the llama-server engine");
    // Four conversations, two slots: each one's second turn comes after two others took the slots.
    const conversations = Array.from({ length: 4 }, (_, i) => [
      {
        role: "system" as const,
        content: `Conversation ${i}. ${"Background facts about the topic. ".repeat(20)}`,
      },
      { role: "user" as const, content: `First question of conversation ${i}?` },
    ]) as OpenAI.ChatCompletionMessageParam[][];
    for (const [i, messages] of conversations.entries()) await ask(messages, i);
    const second: OpenAI.CompletionUsage[] = [];
    for (const [i, messages] of conversations.entries()) {
      messages.push({ role: "user", content: `And a follow-up for ${i}?` });
      second.push(await ask(messages, i));
    }
    for (const usage of second) {
      const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
      // Everything up to the new user turn was evaluated before: at least the system prompt and first turn.
      assert.ok(cached > usage.prompt_tokens * 0.7, `cached ${cached} of ${usage.prompt_tokens}`);
    }
    const metrics = await (await fetch(`${ctx.server.url}/metrics`)).text();
    const ram = Number(/edgellm_prompt_cache_tokens_total\{source="ram"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(ram > 0, `tokens restored from the RAM cache: ${ram}`);
    assert.match(metrics, /edgellm_engine_info\{engine="llama-server"\} 1/);
  });
});
