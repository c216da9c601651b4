/**
 * Turning a token stream into text deltas: byte-level BPE tokens can split a UTF-8 character, and
 * stop strings can span tokens, so text is released only once it can no longer change.
 */

const REPLACEMENT = "\uFFFD";
/** A UTF-8 character is at most 4 bytes, so at most 4 byte-tokens can be pending for one character. */
const MAX_PENDING_TOKENS = 4;

export type Detokenize = (tokens: readonly number[], lastTokens: readonly number[]) => string;

/** Accumulates tokens and releases text only when it ends on a whole character. */
export class IncrementalDetokenizer {
  private pending: number[] = [];
  private history: number[] = [];

  constructor(private readonly detokenize: Detokenize) {}

  /** Adds one token; returns the text that became final (possibly ""). */
  push(token: number): string {
    this.pending.push(token);
    const text = this.detokenize(this.pending, this.history.slice(-MAX_PENDING_TOKENS));
    if (text.endsWith(REPLACEMENT) && this.pending.length < MAX_PENDING_TOKENS) return "";
    this.history.push(...this.pending);
    this.pending = [];
    return text;
  }

  /** Releases whatever is pending at the end of generation. */
  flush(): string {
    if (this.pending.length === 0) return "";
    const text = this.detokenize(this.pending, this.history.slice(-MAX_PENDING_TOKENS));
    this.history.push(...this.pending);
    this.pending = [];
    return text;
  }
}

/**
 * Holds back any tail of the text that could be the start of a stop string, so a stop string is never
 * partly streamed to the client before it is recognised.
 */
export class StopMatcher {
  private held = "";
  private stopped = false;
  /** The stop string that was hit, once one was. */
  matched: string | undefined;

  constructor(private readonly stops: readonly string[]) {}

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Feeds new text; returns what may be emitted and whether a stop string was hit. */
  push(text: string): { emit: string; stopped: boolean } {
    if (this.stopped) return { emit: "", stopped: true };
    const buffer = this.held + text;
    let cut = -1;
    for (const stop of this.stops) {
      const index = buffer.indexOf(stop);
      if (index !== -1 && (cut === -1 || index < cut)) {
        cut = index;
        this.matched = stop;
      }
    }
    if (cut !== -1) {
      this.stopped = true;
      this.held = "";
      return { emit: buffer.slice(0, cut), stopped: true };
    }
    const keep = this.longestStopPrefixSuffix(buffer);
    this.held = buffer.slice(buffer.length - keep);
    return { emit: buffer.slice(0, buffer.length - keep), stopped: false };
  }

  /** Releases held text at the end of generation (it never completed a stop string). */
  flush(): string {
    const rest = this.held;
    this.held = "";
    return this.stopped ? "" : rest;
  }

  private longestStopPrefixSuffix(buffer: string): number {
    let best = 0;
    for (const stop of this.stops) {
      for (let len = Math.min(stop.length - 1, buffer.length); len > best; len--) {
        if (buffer.endsWith(stop.slice(0, len))) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}
