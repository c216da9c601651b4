import { setTimeout as sleep } from "node:timers/promises";
import { ShuttingDownError } from "./provider/errors.js";
import type { GenerateRequest, StreamPart } from "./provider/types.js";
import { WrappingProvider } from "./provider/wrapping-provider.js";

const CUT_SHORT = "The server is shutting down and its grace period ended before this answer was complete.";

/**
 * Graceful shutdown of generation, wrapped around everything the HTTP app serves (router, so local slots
 * and upstream requests alike). After `begin()` new streams are refused with ShuttingDownError; streams in
 * flight run on until they finish or the grace period ends, when their signal is aborted and they end
 * with ShuttingDownError, which api/ sends as a 503 or, once a stream has begun, as its final SSE event.
 */
export class DrainingProvider extends WrappingProvider {
  private draining = false;
  private active = 0;
  private readonly idleWaiters: (() => void)[] = [];
  /** Aborted when the grace period ends; joined to every stream's own signal. */
  private readonly deadline = new AbortController();

  /** True once `begin()` has been called. */
  get shuttingDown(): boolean {
    return this.draining;
  }

  /** Streams started and not yet ended. */
  get inFlight(): number {
    return this.active;
  }

  async *stream(request: GenerateRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    if (this.draining) throw new ShuttingDownError();
    // Joined by hand rather than with AbortSignal.any: the deadline lives as long as the process.
    const joined = new AbortController();
    const onAbort = () => joined.abort(signal.aborted ? signal.reason : this.deadline.signal.reason);
    signal.addEventListener("abort", onAbort);
    this.deadline.signal.addEventListener("abort", onAbort);
    if (signal.aborted) onAbort();
    this.active++;
    try {
      let finished = false;
      try {
        for await (const part of this.inner.stream(request, { signal: joined.signal })) {
          if (part.type === "finish") finished = true;
          yield part;
        }
      } catch (error) {
        if (!this.cutShort(signal)) throw error;
      }
      // On abort a provider ends quietly (its client is usually gone) or throws the reason: say why here.
      if (!finished && this.cutShort(signal)) throw new ShuttingDownError(CUT_SHORT);
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.deadline.signal.removeEventListener("abort", onAbort);
      if (--this.active === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** Refuses new streams from now on; streams in flight run on. */
  begin(): void {
    this.draining = true;
  }

  /**
   * Begins, waits up to `graceMs` milliseconds for the streams in flight to finish, then aborts the rest
   * and resolves once they have all ended.
   */
  async drain(graceMs: number): Promise<void> {
    this.begin();
    if (this.active > 0) {
      const timer = new AbortController();
      await Promise.race([this.idle(), sleep(graceMs, undefined, { signal: timer.signal }).catch(() => {})]);
      timer.abort();
    }
    if (this.active > 0) {
      this.deadline.abort(new ShuttingDownError(CUT_SHORT));
      await this.idle();
    }
  }

  private idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The grace period ended this stream, not its client. */
  private cutShort(signal: AbortSignal): boolean {
    return this.deadline.signal.aborted && !signal.aborted;
  }
}
