import { Counter, Gauge, type Registry } from "prom-client";
import type { Usage } from "../provider/types.js";

/**
 * Cost accounting per route, and the daily cloud budget. Metrics are registered on the server's
 * registry (one per server, so tests can run several in one process). Tokens by route are counted
 * once, for every request, by MeteredProvider (src/metrics.ts).
 */
export class RouterMetrics {
  readonly decisions: Counter<"route" | "kind">;
  readonly cost: Counter<"route">;
  readonly upstreamFailures: Counter<"upstream" | "code">;
  readonly circuitOpen: Gauge<"upstream" | "replica">;
  readonly budgetSpent: Gauge;
  readonly redactions: Counter;
  readonly cascade: Counter<"outcome">;
  readonly cascadeDiscardedTokens: Counter<"kind">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.decisions = new Counter({
      name: "edgellm_router_requests_total",
      help: "Routed requests, by final route and kind of decision (requested, policy, fallback, overflow, cascade, no-cloud, budget, circuit)",
      labelNames: ["route", "kind"],
      registers,
    });
    this.cost = new Counter({
      name: "edgellm_router_cost_total",
      help: "Spend by route, in the configured prices' currency units",
      labelNames: ["route"],
      registers,
    });
    this.upstreamFailures = new Counter({
      name: "edgellm_router_upstream_failures_total",
      help: "Upstream failures by upstream and error code",
      labelNames: ["upstream", "code"],
      registers,
    });
    this.circuitOpen = new Gauge({
      name: "edgellm_router_circuit_open",
      help: "1 while an upstream replica's circuit breaker refuses requests",
      labelNames: ["upstream", "replica"],
      registers,
    });
    this.budgetSpent = new Gauge({
      name: "edgellm_router_cloud_spend_today",
      help: "Cloud spend since local midnight, in currency units",
      registers,
    });
    this.redactions = new Counter({
      name: "edgellm_router_redactions_total",
      help: "Personal data items redacted before a request left the machine",
      registers,
    });
    this.cascade = new Counter({
      name: "edgellm_router_cascade_total",
      help: "Cascade outcomes: kept the local answer or escalated",
      labelNames: ["outcome"],
      registers,
    });
    // A discarded local answer reaches no client, so the per-request token counters never see it.
    this.cascadeDiscardedTokens = new Counter({
      name: "edgellm_router_cascade_discarded_tokens_total",
      help: "Tokens of local answers the cascade discarded to escalate, by kind (prompt, completion)",
      labelNames: ["kind"],
      registers,
    });
  }
}

/** Cost of one request, given prices per 1,000 tokens. */
export function costOf(usage: Usage, price: { input: number; output: number }): number {
  return (usage.promptTokens * price.input + usage.completionTokens * price.output) / 1000;
}

/** Where a CloudBudget keeps each day's spend so that a restart keeps it (src/store/state-db.ts). */
export interface SpendStore {
  spent(day: string): number;
  setSpent(day: string, spent: number): void;
}

/**
 * A daily spend limit that resets at local midnight. Spend is kept in memory, and in a SpendStore once
 * `persist` is called, so that restarting the server does not reset the budget.
 */
export class CloudBudget {
  private day = "";
  private spent = 0;
  private store: SpendStore | undefined;

  constructor(
    /** Currency units per day; undefined for no limit. */
    readonly daily: number | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keeps the spend in `store` from now on, adding what it holds for today to what this process spent. */
  persist(store: SpendStore): void {
    this.roll();
    this.store = store;
    this.spent += store.spent(this.day);
    if (this.spent > 0) store.setSpent(this.day, this.spent);
  }

  get spentToday(): number {
    this.roll();
    return this.spent;
  }

  /** Whether the day's budget is used up. A request already in flight may overshoot it. */
  get exhausted(): boolean {
    return this.daily !== undefined && this.spentToday >= this.daily;
  }

  add(cost: number): void {
    this.roll();
    this.spent += cost;
    this.store?.setSpent(this.day, this.spent);
  }

  private roll(): void {
    const date = new Date(this.now());
    const pad = (n: number) => String(n).padStart(2, "0");
    const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
    if (day !== this.day) {
      this.day = day;
      this.spent = this.store?.spent(day) ?? 0;
    }
  }
}
