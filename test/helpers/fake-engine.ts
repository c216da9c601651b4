import { setTimeout as sleep } from "node:timers/promises";
import type { EngineEvent, SlotEngine } from "../../src/engine/engine-types.js";
import { commonPrefixLength } from "../../src/engine/prefix.js";
import type { Prompt, SamplingParams } from "../../src/provider/types.js";

/**
 * A deterministic stand-in for LocalEngine, for scheduler and route logic: one token per character,
 * and it "generates" the reply given to it (default: the prompt reversed), one character per step.
 */
export class FakeEngine implements SlotEngine {
  readonly modelId = "fake-model";
  readonly slots: number[][];
  /** Every generate() call, in order: which slot, which prompt. */
  readonly calls: { slot: number; prompt: string; cachedTokens: number }[] = [];
  stepDelayMs = 1;
  active = 0;
  disposed = false;

  constructor(
    readonly slotCount = 1,
    readonly contextSize = 256,
    readonly reply: (prompt: string) => string = (p) => [...p].reverse().join(""),
  ) {
    this.slots = Array.from({ length: slotCount }, () => []);
  }

  slotTokens(slot: number): readonly number[] {
    return this.slots[slot];
  }

  tokenize(prompt: Prompt): number[] {
    const text =
      prompt.kind === "text" ? prompt.text : prompt.messages.map((m) => `${m.role}:${m.content}|`).join("");
    return [...text].map((c) => c.codePointAt(0) ?? 0);
  }

  async *generate(
    slot: number,
    promptTokens: readonly number[],
    sampling: SamplingParams,
    signal: AbortSignal,
  ): AsyncGenerator<EngineEvent> {
    const cachedTokens = Math.min(
      commonPrefixLength(this.slots[slot], promptTokens),
      promptTokens.length - 1,
    );
    const prompt = String.fromCodePoint(...promptTokens);
    this.calls.push({ slot, prompt, cachedTokens });
    this.slots[slot] = [...promptTokens];
    this.active++;
    try {
      const out = [...this.reply(prompt)];
      const limit = Math.min(out.length, sampling.maxTokens ?? out.length);
      for (let i = 0; i < limit; i++) {
        await sleep(this.stepDelayMs);
        if (signal.aborted) return;
        this.slots[slot].push(out[i].codePointAt(0) ?? 0);
        yield { type: "text", text: out[i] };
      }
      yield {
        type: "done",
        finishReason: limit < out.length ? "length" : "stop",
        completionTokens: limit,
        cachedTokens,
      };
    } finally {
      this.active--;
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
