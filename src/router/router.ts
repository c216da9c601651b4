import { Registry as PromRegistry } from "prom-client";
import { resolveModelAlias } from "../config/model-aliases.js";
import { UpstreamError } from "../provider/errors.js";
import type { GenerateRequest, ModelInfo, ModelProvider, StreamPart, Usage } from "../provider/types.js";
import { CloudBudget, costOf, RouterMetrics } from "./accounting.js";
import { cascadeLocal } from "./cascade-run.js";
import type { RoutingConfig } from "./config.js";
import { cascadeTarget, type Decision, type DecisionSettings, decide, spillover } from "./decision.js";
import type { RouteSnapshot } from "./filters/index.js";
import { RouterLog, type RouterLogger } from "./log.js";
import { type Opened, open } from "./opened.js";
import { redactRequest } from "./redact.js";
import { summaryOf } from "./summary.js";
import type { UpstreamProvider } from "./upstream.js";

export type { RouterLogger } from "./log.js";

/** One upstream as the composition root hands it to the router. */
export interface RouterUpstream {
  /** The upstream itself: its name, configuration, availability and health. */
  upstream: UpstreamProvider;
  /**
   * What its requests are sent through: the upstream behind ValidatingProvider, since nothing upstream
   * is grammar-constrained. Default: `upstream` itself.
   */
  provider?: ModelProvider;
}

export interface RouterOptions {
  /** The local provider (the Scheduler, behind the response cache). */
  local: ModelProvider;
  config: RoutingConfig;
  /** One for each of `config.upstreams`, built by the composition root (src/server.ts). Default: none. */
  upstreams?: RouterUpstream[];
  /** The router's metrics, shared with the upstreams' events. Default: on a private registry. */
  metrics?: RouterMetrics;
  /** Clock for the daily budget, in ms. Default Date.now. */
  now?: () => number;
  /** Where fallbacks are logged (warn); a RouterLog is used as it is. Default: none. */
  logger?: RouterLogger | RouterLog;
}

/**
 * Routes each request to the local model or an OpenAI-compatible upstream, and says why in a leading
 * meta part. The route comes from `decide` (pure, over a snapshot of this router's state); this class
 * carries it out: failures before the first byte fall back to local, a full local queue overflows to
 * the cloud, the cascade may replace a doubtful local answer, and tokens and spend are counted.
 * Implements ModelProvider, so api/ cannot tell it from the Scheduler it wraps.
 */
export class Router implements ModelProvider {
  readonly metrics: RouterMetrics;
  readonly budget: CloudBudget;
  private readonly local: ModelProvider;
  private readonly config: RoutingConfig;
  private readonly upstreams = new Map<string, { upstream: UpstreamProvider; provider: ModelProvider }>();
  private readonly settings: DecisionSettings;
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly log: RouterLog;

  constructor(options: RouterOptions) {
    this.local = options.local;
    this.config = options.config;
    this.metrics = options.metrics ?? new RouterMetrics(new PromRegistry());
    this.budget = new CloudBudget(options.config.budget?.daily, options.now);
    const logger = options.logger;
    this.log = logger instanceof RouterLog ? logger : new RouterLog(logger, options.config);
    for (const { upstream, provider } of options.upstreams ?? [])
      this.upstreams.set(upstream.name, { upstream, provider: provider ?? upstream });
    const missing = options.config.upstreams.filter((u) => !this.upstreams.has(u.name));
    if (missing.length > 0)
      throw new Error(
        `Router: no provider given for upstream ${missing.map((u) => `'${u.name}'`).join(", ")}`,
      );
    const { auto, cascade, overflow } = options.config;
    this.settings = {
      upstreams: [...this.upstreams.keys()],
      threshold: auto.threshold,
      autoUpstream: auto.upstream,
      overflow,
      cascade: cascade.enabled,
    };
  }

  get state(): "loading" | "ready" | "failed" {
    return this.local.state;
  }

  /** The configured upstreams, by name. */
  upstream(name: string): UpstreamProvider | undefined {
    return this.upstreams.get(name)?.upstream;
  }

  listModels(): ModelInfo[] {
    let local: ModelInfo[] = [];
    try {
      local = this.local.listModels();
    } catch {
      // Still loading: the upstreams are listed all the same.
    }
    const upstreams = [...this.upstreams.values()].flatMap((u) => u.upstream.listModels());
    if (upstreams.length === 0) return this.withAliases(local);
    const auto: ModelInfo = {
      id: "auto",
      created: this.created,
      ownedBy: "edgellm-router",
      contextSize: local[0]?.contextSize ?? upstreams[0].contextSize,
    };
    return this.withAliases([...local, ...upstreams, auto]);
  }

  /**
   * Each alias as a model of its own, with its target's owner and context, so a client that checks the
   * list finds the name it uses; one whose target is not served (yet: the local model while loading) is left out.
   */
  private withAliases(models: ModelInfo[]): ModelInfo[] {
    const aliases: ModelInfo[] = [];
    for (const [from, to] of this.config.aliases) {
      let id: string;
      try {
        id = this.resolveServed(to);
      } catch {
        continue;
      }
      const target = models.find((m) => m.id === id);
      if (target) aliases.push({ ...target, id: from, aliasOf: id });
    }
    return [...models, ...aliases];
  }

  resolveModel(name: string | undefined): string {
    return this.resolveServed(resolveModelAlias(this.config.aliases, name));
  }

  /** A served model's name (no alias) to its route's model id. */
  private resolveServed(name: string | undefined): string {
    const wanted = name === undefined || name === "" ? this.config.defaultModel : name;
    if (wanted === "auto") return "auto";
    if (this.upstreams.has(wanted)) return wanted;
    for (const { upstream } of this.upstreams.values())
      if (upstream.config.model === wanted && wanted !== "local") return upstream.name;
    return this.local.resolveModel(wanted === "local" ? name : wanted);
  }

  /** Stops health checks. The local provider is disposed by its owner. */
  dispose(): void {
    for (const { upstream } of this.upstreams.values()) upstream.dispose();
  }

  /** The route before anything is tried, from the request and the router's state now. */
  decide(request: GenerateRequest): Decision {
    return decide(request, this.snapshot(), this.settings);
  }

  async *stream(request: GenerateRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    const snapshot = this.snapshot();
    const decision = decide(request, snapshot, this.settings);
    let { kind, reason } = decision;
    let route = decision.upstream ?? "local";
    let opened: Opened;

    if (decision.upstream) {
      try {
        opened = await this.openUpstream(decision.upstream, request, signal);
      } catch (upstreamError) {
        if (signal.aborted) throw upstreamError;
        try {
          opened = await this.openLocal(request, signal);
        } catch {
          throw upstreamError;
        }
        const why = this.failureReason(decision.upstream, upstreamError);
        kind = "fallback";
        reason = `fallback: ${why}`;
        route = "local";
        this.log.warn({ from: decision.upstream, to: "local", why }, `${reason}; answering locally`);
      }
    } else {
      const escalate = cascadeTarget(decision, request, snapshot, this.settings);
      try {
        // The cascade judges the local answer partly by its token logprobs.
        const asked = escalate ? { ...request, logprobs: request.logprobs ?? { top: 0 } } : request;
        opened = await this.openLocal(asked, signal);
      } catch (localError) {
        const spill = spillover(localError, decision, request, snapshot, this.settings);
        if (!spill?.upstream) throw localError;
        try {
          opened = await this.openUpstream(spill.upstream, request, signal);
        } catch {
          throw localError;
        }
        ({ kind, reason } = spill);
        route = spill.upstream;
      }
      if (escalate && route === "local") {
        const outcome = await cascadeLocal(
          opened,
          request,
          {
            threshold: this.config.cascade.threshold,
            difficulty: decision.autoDifficulty ?? 0,
            upstream: escalate,
            escalate: () => this.openUpstream(escalate, request, signal),
            // The discarded local attempt still cost tokens.
            discarded: (usage) => {
              this.metrics.cascadeDiscardedTokens.inc({ kind: "prompt" }, usage.promptTokens);
              this.metrics.cascadeDiscardedTokens.inc({ kind: "completion" }, usage.completionTokens);
            },
            outcome: (outcome) => this.metrics.cascade.inc({ outcome }),
          },
          signal,
        );
        if (outcome.escalated) {
          kind = "cascade";
          route = escalate;
        }
        reason = `${reason}; ${outcome.note}`;
        opened = outcome.opened;
      }
    }

    this.metrics.decisions.inc({ route, kind });
    const note = opened.meta.routeReason;
    yield {
      type: "meta",
      meta: {
        ...opened.meta,
        route,
        // Built from our own words and error summaries; masked all the same, as at every exit.
        routeReason: this.log.sanitize(note ? `${reason}; ${note}` : reason),
        model: opened.meta.model ?? (route === "local" ? this.localModelId() : undefined),
      },
    };
    try {
      if (opened.first) yield* this.account(opened.first, route);
      for (let step = await opened.rest.next(); !step.done; step = await opened.rest.next())
        yield* this.account(step.value, route);
    } finally {
      // A consumer that stops early must close the provider's stream too, or its cleanup (timers,
      // requests in flight, a claimed half-open probe) never runs.
      await opened.rest.return?.();
    }
  }

  /** The state the decision reads, as plain data. */
  private snapshot(): RouteSnapshot {
    const budget = this.config.budget;
    return {
      cloud: this.config.cloud,
      budget: {
        exhausted: this.budget.exhausted,
        spentToday: this.budget.spentToday,
        daily: budget?.daily,
        currency: budget?.currency,
      },
      upstreams: new Map(
        [...this.upstreams].map(([name, { upstream }]) => [
          name,
          { available: upstream.available, modelProblem: upstream.modelProblem },
        ]),
      ),
    };
  }

  /** Why an upstream's answer did not come, in our words: its model is missing, or what failed. */
  private failureReason(name: string, error: unknown): string {
    const problem = this.upstreams.get(name)?.upstream.modelProblem;
    if (problem && error instanceof UpstreamError && error.upstreamStatus === 404) return problem;
    return `upstream '${name}' failed: ${summaryOf(error)}`;
  }

  private async openLocal(request: GenerateRequest, signal: AbortSignal): Promise<Opened> {
    return open(this.local.stream({ ...request, model: this.localModelId() }, { signal }));
  }

  private async openUpstream(name: string, request: GenerateRequest, signal: AbortSignal): Promise<Opened> {
    const target = this.upstreams.get(name);
    if (!target) throw new Error(`Router: unknown upstream '${name}'`);
    let outbound = request;
    if (this.config.redact) {
      const redacted = redactRequest(request);
      if (redacted.redactions > 0) this.metrics.redactions.inc(redacted.redactions);
      outbound = redacted.request;
    }
    return open(target.provider.stream({ ...outbound, model: name }, { signal }));
  }

  private *account(part: StreamPart, route: string) {
    if (part.type === "finish") this.addCost(route, part.usage);
    yield part;
  }

  /** Tokens are counted by MeteredProvider for every route; here only what a cloud answer cost. */
  private addCost(route: string, usage: Usage): void {
    const price = route === "local" ? undefined : this.upstreams.get(route)?.upstream.config.price;
    if (!price) return;
    const cost = costOf(usage, price);
    this.metrics.cost.inc({ route }, cost);
    this.budget.add(cost);
    this.metrics.budgetSpent.set(this.budget.spentToday);
  }

  private localModelId(): string {
    try {
      return this.local.resolveModel(undefined);
    } catch {
      return "local";
    }
  }
}
