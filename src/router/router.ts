import type { Registry } from "prom-client";
import { Registry as PromRegistry } from "prom-client";
import {
  ContextOverflowError,
  EdgeError,
  ModelLoadingError,
  QueueFullError,
  UpstreamError,
} from "../provider/errors.js";
import type {
  GenerateRequest,
  ModelInfo,
  ModelProvider,
  RoutingHints,
  ServingMeta,
  StreamPart,
  Usage,
} from "../provider/types.js";
import { ValidatingProvider } from "../structured/validating-provider.js";
import { CloudBudget, costOf, RouterMetrics } from "./accounting.js";
import { localConfidence } from "./cascade.js";
import type { RoutingConfig } from "./config.js";
import { assess, explain, policyInput } from "./policy.js";
import { redactRequest } from "./redact.js";
import { sanitizeUpstreamText } from "./sanitize.js";
import { UpstreamProvider } from "./upstream.js";
import { seconds } from "./upstream-errors.js";

/** The few pino methods the router logs with; Fastify's `app.log` is one. */
export interface RouterLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface RouterOptions {
  /** The local provider (the Scheduler). */
  local: ModelProvider;
  config: RoutingConfig;
  /** Where to register the router's metrics. Default: a private registry. */
  registry?: Registry;
  /** Clock for the daily budget and circuit breakers, in ms. Default Date.now. */
  now?: () => number;
  /**
   * Where upstream failures (warn), fallbacks (info) and circuit changes (warn when opening, info
   * when closing) are logged, or a function returning it when the logger is made after the router.
   * Default: none.
   */
  logger?: RouterLogger | (() => RouterLogger);
}

type DecisionKind =
  | "requested"
  | "policy"
  | "fallback"
  | "overflow"
  | "cascade"
  | "no-cloud"
  | "budget"
  | "circuit";

interface Decision {
  upstream?: UpstreamProvider;
  kind: DecisionKind;
  reason: string;
  /** Set when "auto" chose local: the policy's score, for the cascade. */
  autoDifficulty?: number;
}

/** A provider's stream with its leading meta parts read and its first real part in hand. */
interface Opened {
  meta: ServingMeta;
  first: StreamPart | undefined;
  rest: AsyncIterator<StreamPart>;
}

/**
 * Routes each request to the local model or an OpenAI-compatible upstream, and says why in a leading
 * meta part. `model: "auto"` asks the policy; failures before the first byte fall back to local; a
 * full local queue overflows to the cloud. Implements ModelProvider, so api/ cannot tell it from the
 * Scheduler it wraps.
 */
export class Router implements ModelProvider {
  readonly metrics: RouterMetrics;
  readonly budget: CloudBudget;
  private readonly local: ModelProvider;
  private readonly config: RoutingConfig;
  private readonly upstreams = new Map<string, UpstreamProvider>();
  /** The same upstreams behind JSON validation with retry: nothing upstream is grammar-constrained. */
  private readonly validated = new Map<string, ValidatingProvider>();
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly logger: () => RouterLogger | undefined;
  /** Every configured key, masked wherever text leaves the router. */
  private readonly secrets: string[];

  constructor(options: RouterOptions) {
    this.local = options.local;
    this.config = options.config;
    this.metrics = new RouterMetrics(options.registry ?? new PromRegistry());
    this.budget = new CloudBudget(options.config.budget?.daily, options.now);
    const logger = options.logger;
    this.logger = typeof logger === "function" ? logger : () => logger;
    this.secrets = options.config.upstreams.flatMap((u) => (u.apiKey ? [u.apiKey] : []));
    const { breaker } = options.config;
    for (const upstream of options.config.upstreams) {
      const name = upstream.name;
      const provider = new UpstreamProvider(upstream, {
        breaker: { failureThreshold: breaker.failures, cooldownMs: breaker.cooldownMs, now: options.now },
        onFailure: (error, replica) => {
          this.metrics.upstreamFailures.inc({ upstream: name, code: error.code ?? "unknown" });
          const status = error.upstreamStatus;
          this.log(
            "warn",
            { upstream: name, replica, code: error.code, ...(status && { status }) },
            error.message,
          );
        },
        onCircuit: (replica, open) => {
          this.metrics.circuitOpen.set({ upstream: name, replica: String(replica) }, open ? 1 : 0);
          const which = `upstream '${name}' replica ${replica + 1}/${upstream.baseUrls.length}`;
          if (open)
            this.log(
              "warn",
              { upstream: name, replica, circuit: "open" },
              `${which}: circuit opened after ${breaker.failures} failures; requests go elsewhere for ${seconds(breaker.cooldownMs)}`,
            );
          else this.log("info", { upstream: name, replica, circuit: "closed" }, `${which}: circuit closed`);
        },
      });
      this.upstreams.set(upstream.name, provider);
      this.validated.set(upstream.name, new ValidatingProvider(provider));
    }
  }

  get state(): "loading" | "ready" | "failed" {
    return this.local.state;
  }

  /** The configured upstreams, by name. */
  upstream(name: string): UpstreamProvider | undefined {
    return this.upstreams.get(name);
  }

  listModels(): ModelInfo[] {
    let local: ModelInfo[] = [];
    try {
      local = this.local.listModels();
    } catch {
      // Still loading: the upstreams are listed all the same.
    }
    const upstreams = [...this.upstreams.values()].flatMap((u) => u.listModels());
    if (upstreams.length === 0) return local;
    const auto: ModelInfo = {
      id: "auto",
      created: this.created,
      ownedBy: "edgellm-router",
      contextSize: local[0]?.contextSize ?? upstreams[0].contextSize,
    };
    return [...local, ...upstreams, auto];
  }

  resolveModel(name: string | undefined): string {
    const wanted = name === undefined || name === "" ? this.config.defaultModel : name;
    if (wanted === "auto") return "auto";
    if (this.upstreams.has(wanted)) return wanted;
    for (const u of this.upstreams.values())
      if (u.config.model === wanted && wanted !== "local") return u.name;
    return this.local.resolveModel(wanted === "local" ? name : wanted);
  }

  /** Stops health checks. The local provider is disposed by its owner. */
  dispose(): void {
    for (const u of this.upstreams.values()) u.dispose();
  }

  async *stream(request: GenerateRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    const hints = request.routing;
    const decision = this.decide(request, hints);
    let { kind, reason } = decision;
    let route = decision.upstream?.name ?? "local";
    let price = decision.upstream?.config.price;
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
        kind = "fallback";
        reason = `fallback: upstream '${decision.upstream.name}' failed: ${summaryOf(upstreamError)}`;
        this.log(
          "info",
          { upstream: decision.upstream.name, route: "local" },
          `${reason}; answering locally`,
        );
        route = "local";
        price = undefined;
      }
    } else {
      const escalate = this.cascadeTarget(decision, hints);
      try {
        // The cascade judges the local answer partly by its token logprobs.
        opened = await this.openLocal(
          escalate ? { ...request, logprobs: request.logprobs ?? { top: 0 } } : request,
          signal,
        );
      } catch (localError) {
        const spill = this.spillover(localError, decision, hints);
        if (!spill) throw localError;
        try {
          opened = await this.openUpstream(spill.upstream, request, signal);
        } catch {
          throw localError;
        }
        ({ kind, reason } = spill);
        route = spill.upstream.name;
        price = spill.upstream.config.price;
      }
      if (escalate && route === "local") {
        const outcome = await this.cascade(opened, request, decision, escalate, signal);
        if (outcome.escalated) {
          kind = "cascade";
          route = escalate.name;
          price = escalate.config.price;
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
        routeReason: this.sanitize(note ? `${reason}; ${note}` : reason),
        model: opened.meta.model ?? (route === "local" ? this.localModelId() : undefined),
      },
    };
    try {
      if (opened.first) yield* this.account(opened.first, route, price);
      for (let step = await opened.rest.next(); !step.done; step = await opened.rest.next()) {
        yield* this.account(step.value, route, price);
      }
    } finally {
      // A consumer that stops early must close the provider's stream too, or its cleanup (timers,
      // requests in flight, a claimed half-open probe) never runs.
      await opened.rest.return?.();
    }
  }

  /** The route before anything is tried: from the model name, the policy and the cloud switches. */
  decide(request: GenerateRequest, hints: RoutingHints | undefined): Decision {
    const blocked = this.cloudBlocked(hints);
    if (request.model === "auto") {
      const assessment = assess(policyInput(request));
      const why = `auto: ${explain(assessment, this.config.auto.threshold)}`;
      const upstream = this.autoUpstream();
      if (assessment.score < this.config.auto.threshold || !upstream)
        return { kind: "policy", reason: why, autoDifficulty: assessment.score };
      if (blocked) return { kind: blocked.kind, reason: `${why}, but ${blocked.why}` };
      if (!upstream.available)
        return {
          kind: "circuit",
          reason: `${why}, but upstream '${upstream.name}' is unavailable (circuit open or unhealthy)`,
        };
      return { upstream, kind: "policy", reason: why };
    }
    const upstream = this.upstreams.get(request.model);
    if (!upstream) return { kind: "requested", reason: "requested local" };
    const asked = `requested '${upstream.name}'`;
    if (blocked) return { kind: blocked.kind, reason: `${asked}, but ${blocked.why}` };
    if (!upstream.available)
      return { kind: "circuit", reason: `${asked}, but it is unavailable (circuit open or unhealthy)` };
    return { upstream, kind: "requested", reason: asked };
  }

  private cloudBlocked(hints: RoutingHints | undefined): { kind: DecisionKind; why: string } | undefined {
    if (!this.config.cloud) return { kind: "no-cloud", why: "the cloud is disabled on this server" };
    if (hints?.allowCloud === false) return { kind: "no-cloud", why: "the request does not allow the cloud" };
    if (this.budget.exhausted) {
      const b = this.config.budget;
      return {
        kind: "budget",
        why: `the daily cloud budget is spent (${this.budget.spentToday.toFixed(4)} of ${b?.daily}${b?.currency ?? ""})`,
      };
    }
    return undefined;
  }

  private autoUpstream(): UpstreamProvider | undefined {
    const name = this.config.auto.upstream;
    return name ? this.upstreams.get(name) : this.upstreams.values().next().value;
  }

  /** Where a local request that could not start may go instead: queue full, or "auto" and too long. */
  private spillover(
    error: unknown,
    decision: Decision,
    hints: RoutingHints | undefined,
  ): { upstream: UpstreamProvider; kind: DecisionKind; reason: string } | undefined {
    const upstream = this.autoUpstream();
    if (!upstream?.available || this.cloudBlocked(hints)) return undefined;
    if (error instanceof QueueFullError && this.config.overflow)
      return { upstream, kind: "overflow", reason: `overflow: the local queue is full (${decision.reason})` };
    if (decision.autoDifficulty === undefined) return undefined;
    if (error instanceof ContextOverflowError)
      return {
        upstream,
        kind: "overflow",
        reason: `${decision.reason}, but it does not fit the local context`,
      };
    if (error instanceof ModelLoadingError)
      return {
        upstream,
        kind: "overflow",
        reason: `${decision.reason}, but the local model is still loading`,
      };
    return undefined;
  }

  private cascadeTarget(decision: Decision, hints: RoutingHints | undefined): UpstreamProvider | undefined {
    if (!this.config.cascade.enabled || decision.autoDifficulty === undefined) return undefined;
    const upstream = this.autoUpstream();
    return upstream?.available && !this.cloudBlocked(hints) ? upstream : undefined;
  }

  /**
   * Reads the whole local answer, scores it, and keeps it or escalates. The client sees nothing until
   * then: the latency cost of the cascade is the full local generation (docs/routing.md).
   */
  private async cascade(
    opened: Opened,
    request: GenerateRequest,
    decision: Decision,
    upstream: UpstreamProvider,
    signal: AbortSignal,
  ): Promise<{ opened: Opened; escalated: boolean; note: string }> {
    let parts: StreamPart[] = opened.first ? [opened.first] : [];
    for (let step = await opened.rest.next(); !step.done; step = await opened.rest.next())
      parts.push(step.value);
    const logprobs = parts.flatMap((p) => (p.type === "text-delta" ? (p.logprobs ?? []) : []));
    const meanLogprob =
      logprobs.length > 0 ? logprobs.reduce((n, l) => n + l.logprob, 0) / logprobs.length : undefined;
    // Logprobs the client did not ask for are dropped before it sees the answer.
    if (!request.logprobs)
      parts = parts.map((p) =>
        p.type === "text-delta" && p.logprobs ? { type: "text-delta", text: p.text } : p,
      );
    const replay = (): Opened => ({ meta: opened.meta, first: parts[0], rest: replayParts(parts.slice(1)) });
    const finish = parts.find((p) => p.type === "finish");
    if (!finish || signal.aborted)
      return { opened: replay(), escalated: false, note: "cascade: no local answer" };
    const text = parts.map((p) => (p.type === "text-delta" ? p.text : "")).join("");
    const confidence = localConfidence(
      policyInput(request).ask,
      text,
      finish.finishReason,
      decision.autoDifficulty ?? 0,
      meanLogprob,
    );
    const scored = `confidence ${confidence.score.toFixed(2)}${confidence.reasons.length ? ` (${confidence.reasons.join(", ")})` : ""}`;
    if (confidence.score >= this.config.cascade.threshold) {
      this.metrics.cascade.inc({ outcome: "kept" });
      return { opened: replay(), escalated: false, note: `cascade: kept the local answer, ${scored}` };
    }
    // The discarded local attempt still cost tokens; count them against the local route.
    this.countTokens("local", finish.usage, undefined);
    try {
      const escalated = await this.openUpstream(upstream, request, signal);
      this.metrics.cascade.inc({ outcome: "escalated" });
      return {
        opened: escalated,
        escalated: true,
        note: `cascade: escalated to '${upstream.name}', local ${scored}`,
      };
    } catch (error) {
      this.metrics.cascade.inc({ outcome: "escalation_failed" });
      return {
        opened: replay(),
        escalated: false,
        note: `cascade: local ${scored}, but escalation failed: ${summaryOf(error)}`,
      };
    }
  }

  private async openLocal(request: GenerateRequest, signal: AbortSignal): Promise<Opened> {
    return open(this.local.stream({ ...request, model: this.localModelId() }, { signal }));
  }

  private async openUpstream(
    upstream: UpstreamProvider,
    request: GenerateRequest,
    signal: AbortSignal,
  ): Promise<Opened> {
    let outbound = request;
    if (this.config.redact) {
      const redacted = redactRequest(request);
      if (redacted.redactions > 0) this.metrics.redactions.inc(redacted.redactions);
      outbound = redacted.request;
    }
    const validated = this.validated.get(upstream.name) ?? upstream;
    return open(validated.stream({ ...outbound, model: upstream.name }, { signal }));
  }

  private *account(part: StreamPart, route: string, price: { input: number; output: number } | undefined) {
    if (part.type === "finish") this.countTokens(route, part.usage, price);
    yield part;
  }

  private countTokens(
    route: string,
    usage: Usage,
    price: { input: number; output: number } | undefined,
  ): void {
    this.metrics.tokens.inc({ route, kind: "prompt" }, usage.promptTokens);
    this.metrics.tokens.inc({ route, kind: "completion" }, usage.completionTokens);
    if (!price) return;
    const cost = costOf(usage, price);
    this.metrics.cost.inc({ route }, cost);
    this.budget.add(cost);
    this.metrics.budgetSpent.set(this.budget.spentToday);
  }

  private log(level: "info" | "warn", fields: object, message: string): void {
    this.logger()?.[level](fields, this.sanitize(message));
  }

  private sanitize(text: string): string {
    return sanitizeUpstreamText(text, this.secrets, 2000);
  }

  private localModelId(): string {
    try {
      return this.local.resolveModel(undefined);
    } catch {
      return "local";
    }
  }
}

/** What failed, for a route reason: an UpstreamError's summary or an error code, never an upstream's text. */
function summaryOf(error: unknown): string {
  if (error instanceof UpstreamError) return error.summary;
  return error instanceof EdgeError && error.code ? error.code : "unexpected error";
}

async function* replayParts(parts: StreamPart[]): AsyncGenerator<StreamPart> {
  yield* parts;
}

/** Starts a stream and reads up to its first real part, so failures before any output surface here. */
async function open(stream: AsyncIterable<StreamPart>): Promise<Opened> {
  const rest = stream[Symbol.asyncIterator]();
  const meta: ServingMeta = {};
  for (;;) {
    const step = await rest.next();
    if (step.done) return { meta, first: undefined, rest };
    if (step.value.type !== "meta") return { meta, first: step.value, rest };
    Object.assign(meta, step.value.meta);
  }
}
