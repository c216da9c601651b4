import OpenAI from "openai";
import { type BreakerOptions, CircuitBreaker } from "./breaker.js";
import { ConnectionPool, httpFetch } from "./http-fetch.js";
import type { ReplicaLoad } from "./replicas.js";

/** One base URL of an upstream: its own client, connections, circuit breaker, health and load. */
export class Replica implements ReplicaLoad {
  readonly client: OpenAI;
  readonly pool = new ConnectionPool();
  readonly breaker: CircuitBreaker;
  outstanding = 0;
  healthy = true;
  /** Health endpoint that answered last time; undefined until known. */
  healthUrl?: string;

  constructor(
    readonly index: number,
    readonly baseUrl: string,
    apiKey: string | undefined,
    breaker: BreakerOptions,
  ) {
    // Retries and timeouts are ours: the SDK's timeout ends when the headers arrive, so it is only a
    // backstop. Its logger is off because it prints stream data it cannot parse, upstream echoes included.
    this.client = new OpenAI({
      baseURL: baseUrl,
      apiKey: apiKey ?? "none",
      maxRetries: 0,
      timeout: 600_000,
      logLevel: "off",
    });
    this.breaker = new CircuitBreaker(breaker);
  }

  get available(): boolean {
    return this.healthy && this.breaker.allowsRequests;
  }

  /** The client for one attempt, whose connect timer calls `onConnectTimeout` of that attempt. */
  clientFor(connectTimeoutMs: number, onConnectTimeout: () => void): OpenAI {
    return this.client.withOptions({
      fetch: httpFetch({ pool: this.pool, connectTimeoutMs, onConnectTimeout }),
    });
  }

  /** Checks this replica now: GET <origin>/health, or <baseUrl>/models where /health is missing. */
  async checkHealth(apiKey: string | undefined): Promise<void> {
    const origin = new URL(this.baseUrl).origin;
    const candidates = this.healthUrl ? [this.healthUrl] : [`${origin}/health`, `${this.baseUrl}/models`];
    for (const url of candidates) {
      try {
        const res = await fetch(url, {
          signal: AbortSignal.timeout(2000),
          headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
        });
        await res.body?.cancel();
        if (res.status === 404 && url.endsWith("/health")) continue;
        this.healthUrl = url;
        this.healthy = res.ok;
        return;
      } catch {
        this.healthy = false;
        return;
      }
    }
    this.healthy = false;
  }
}
