import type { FinishReason, SamplingParams, TokenLogprob } from "../provider/types.js";
import type { EngineEvent, GenerationControls } from "./engine-types.js";
import { type Detokenize, IncrementalDetokenizer, StopMatcher } from "./text-stream.js";
import { ToolCallParser } from "./tool-calls.js";

/**
 * What both engines do with sampled tokens, so they answer alike: detokenize without splitting a character,
 * hold back text that may begin a stop string, parse Qwen's `<tool_call>` blocks into tool-call deltas, and
 * carry each token's logprob on the next text released.
 */
export class GenerationOutput {
  /** Only for token input (push): the llama-server engine gets text already made of whole characters. */
  private readonly detokenizer?: IncrementalDetokenizer;
  private readonly stops: StopMatcher;
  private readonly tools?: ToolCallParser;
  private readonly logprobs: boolean;
  private pendingLogprobs: TokenLogprob[] = [];

  constructor(sampling: SamplingParams, controls?: GenerationControls, detokenize?: Detokenize) {
    this.detokenizer = detokenize ? new IncrementalDetokenizer(detokenize) : undefined;
    this.stops = new StopMatcher(sampling.stop);
    const hasTools = controls?.prompt.kind === "chat" && (controls.prompt.tools?.length ?? 0) > 0;
    this.tools = hasTools && controls?.toolChoice !== "none" ? new ToolCallParser() : undefined;
    this.logprobs = controls?.logprobs !== undefined;
  }

  /** Adds one sampled token; `stopped` says a stop string ended the answer. */
  push(token: number, logprob?: TokenLogprob): { events: EngineEvent[]; stopped: boolean } {
    if (!this.detokenizer) throw new Error("GenerationOutput.push needs a detokenizer");
    return this.pushText(this.detokenizer.push(token), logprob ? [logprob] : []);
  }

  /** Adds text already detokenized into whole characters, with the logprobs of the tokens it came from. */
  pushText(
    text: string,
    logprobs: readonly TokenLogprob[] = [],
  ): { events: EngineEvent[]; stopped: boolean } {
    this.pendingLogprobs.push(...logprobs);
    const { emit, stopped } = this.stops.push(text);
    return { events: this.release(emit), stopped };
  }

  /** Everything still held back, then `done`; a finish by the model with tool calls becomes "tool_calls". */
  finish(finishReason: FinishReason, completionTokens: number, cachedTokens: number): EngineEvent[] {
    const events: EngineEvent[] = [];
    if (!this.stops.isStopped) {
      const { emit } = this.stops.push(this.detokenizer?.flush() ?? "");
      events.push(...this.release(emit + this.stops.flush()));
    }
    let reason = finishReason;
    if (this.tools) {
      for (const event of this.tools.flush()) {
        if (event.type === "text") events.push(this.text(event.text));
        else if (event.type === "call-arguments")
          events.push({ type: "tool-call-delta", index: event.index, argumentsDelta: event.text });
        this.pendingLogprobs = [];
      }
      if (reason === "stop" && this.tools.callCount > 0) reason = "tool_calls";
    }
    if (this.pendingLogprobs.length > 0) events.push(this.text(""));
    const stopSequence = this.stops.matched;
    events.push({
      type: "done",
      finishReason: reason,
      completionTokens,
      cachedTokens,
      ...(stopSequence !== undefined && { stopSequence }),
    });
    return events;
  }

  // Text passes the stop matcher, then the tool-call parser; logprobs ride on the next text released.
  private release(text: string): EngineEvent[] {
    if (!text) return [];
    const parsed = this.tools ? this.tools.push(text) : [{ type: "text" as const, text }];
    const events: EngineEvent[] = [];
    for (const event of parsed) {
      if (event.type === "text") {
        events.push(this.text(event.text));
      } else {
        const start = event.type === "call-start";
        events.push({
          type: "tool-call-delta",
          index: event.index,
          id: start ? event.id : undefined,
          name: start ? event.name : undefined,
          argumentsDelta: start ? "" : event.text,
        });
      }
      this.pendingLogprobs = [];
    }
    return events;
  }

  private text(text: string): EngineEvent {
    return { type: "text", text, logprobs: this.logprobs ? this.pendingLogprobs : undefined };
  }
}
