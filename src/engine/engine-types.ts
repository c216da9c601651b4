import type {
  FinishReason,
  GenerateRequest,
  Prompt,
  SamplingParams,
  TokenLogprob,
} from "../provider/types.js";

/** What one generation yields; the scheduler turns it into StreamParts. */
export type EngineEvent =
  | { type: "text"; text: string; logprobs?: TokenLogprob[] }
  | { type: "tool-call-delta"; index: number; id?: string; name?: string; argumentsDelta: string }
  | {
      type: "done";
      finishReason: FinishReason;
      completionTokens: number;
      cachedTokens: number;
      /** The stop string that ended the answer, when one did. */
      stopSequence?: string;
    };

/** The parts of a request beyond sampling that shape generation (grammar, tool calls, logprobs). */
export type GenerationControls = Pick<
  GenerateRequest,
  "prompt" | "format" | "toolChoice" | "parallelToolCalls" | "logprobs"
>;

/** Where a request's reused prompt tokens came from, for /metrics. */
export interface PromptReuse {
  /** Tokens reused from the slot's own KV cache. */
  slot: number;
  /**
   * Tokens restored from a store of KV states of conversations that had lost their slot (llama-server's RAM
   * prompt cache; the in-process engine's SlotStateStore).
   */
  ram: number;
}

/** What the scheduler needs from an engine; LocalEngine and LlamaServerEngine implement it, tests may pass a fake. */
export interface SlotEngine {
  readonly modelId: string;
  /** Tokens per slot. */
  readonly contextSize: number;
  readonly slotCount: number;
  slotTokens(slot: number): readonly number[];
  /**
   * KV cells the slot fills right now, tokens generated so far included, from the engine's own bookkeeping
   * (never a call to the backend: /metrics reads it at every scrape). Default: `slotTokens(slot).length`.
   */
  slotCells?(slot: number): number;
  /**
   * The prompt's tokens, or (when `limit` is given and the prompt's size alone proves it has more) a lower
   * bound on their count, so a huge prompt is refused without being tokenized.
   */
  tokenize(
    prompt: Prompt,
    limit?: number,
  ): number[] | { atLeast: number } | Promise<number[] | { atLeast: number }>;
  /** Throws for a request the engine would refuse anyway (e.g. an unsupported schema), before it queues. */
  check?(request: GenerateRequest): void;
  generate(
    slot: number,
    promptTokens: readonly number[],
    sampling: SamplingParams,
    signal: AbortSignal,
    controls?: GenerationControls,
  ): AsyncIterable<EngineEvent>;
  dispose(): Promise<void>;
}
