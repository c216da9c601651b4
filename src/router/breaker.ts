export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. Default 3. */
  failureThreshold?: number;
  /** How long an open circuit refuses requests before letting one probe through, in ms. Default 30000. */
  cooldownMs?: number;
  /** Clock, in ms; tests pass a fake one. Default Date.now. */
  now?: () => number;
}

/**
 * A circuit breaker for one upstream endpoint. Closed: everything goes through. After
 * `failureThreshold` consecutive failures it opens and refuses for `cooldownMs`; then it lets exactly
 * one probe through (half-open): a success closes it, a failure opens it again for another cooldown.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private current: BreakerState = "closed";
  private readonly threshold: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;

  constructor(options: BreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? 3;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** The state as of now (an open circuit whose cooldown has passed reads as half-open). */
  get state(): BreakerState {
    if (this.current === "open" && this.now() - this.openedAt >= this.cooldownMs) return "half-open";
    return this.current;
  }

  /** Whether a request may be sent now, without claiming the half-open probe. */
  get allowsRequests(): boolean {
    const state = this.state;
    return state === "closed" || (state === "half-open" && !this.probing);
  }

  /** Claims permission to send one request; false if the circuit refuses it. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open" || this.probing) return false;
    this.current = "half-open";
    this.probing = true;
    return true;
  }

  onSuccess(): void {
    this.failures = 0;
    this.probing = false;
    this.current = "closed";
  }

  onFailure(): void {
    this.failures++;
    const wasProbe = this.probing;
    this.probing = false;
    if (wasProbe || this.current === "half-open" || this.failures >= this.threshold) {
      this.current = "open";
      this.openedAt = this.now();
    }
  }

  /** A request that was let through but ended with neither verdict (e.g. the client went away). */
  onAbandon(): void {
    this.probing = false;
  }
}
