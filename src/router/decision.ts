import { ContextOverflowError, ModelLoadingError, QueueFullError } from "../provider/errors.js";
import type { GenerateRequest } from "../provider/types.js";
import { type DecisionKind, type RouteFilter, type RouteSnapshot, refusal } from "./filters/index.js";
import { assess, explain, policyInput } from "./policy.js";

/**
 * Where a request goes before anything is tried, as pure functions of the request, a snapshot of the
 * router's state and its settings: no I/O, no clock, so every case is a one-line test and a decision
 * costs microseconds (docs/routing.md, Overhead).
 */

export interface Decision {
  /** The upstream to try, by name; undefined for local. */
  upstream?: string;
  kind: DecisionKind;
  /** In our own words, for `x-edgellm-route-reason`. */
  reason: string;
  /** Set when "auto" chose local: the policy's score, for the cascade and the spillover. */
  autoDifficulty?: number;
}

export interface DecisionSettings {
  /** The configured upstreams' names. */
  upstreams: readonly string[];
  /** The policy's difficulty threshold for "auto", 0..1. */
  threshold: number;
  /** The upstream "auto" and overflow use. Default: the first. */
  autoUpstream?: string;
  /** Send a request the full local queue refuses to the auto upstream. */
  overflow: boolean;
  /** Answer "auto" requests locally first and escalate doubtful answers. */
  cascade: boolean;
  /** The checks an upstream route must pass. Default ROUTE_FILTERS. */
  filters?: readonly RouteFilter[];
}

/** The route from the model name, the policy and the filters. */
export function decide(
  request: GenerateRequest,
  snapshot: RouteSnapshot,
  settings: DecisionSettings,
): Decision {
  if (request.model === "auto") {
    const assessment = assess(policyInput(request));
    const why = `auto: ${explain(assessment, settings.threshold)}`;
    const upstream = autoUpstream(settings);
    if (assessment.score < settings.threshold || !upstream)
      return { kind: "policy", reason: why, autoDifficulty: assessment.score };
    const refused = refusal({ upstream, hints: request.routing }, snapshot, settings.filters);
    if (refused) return { kind: refused.kind, reason: `${why}, but ${refused.why}` };
    return { upstream, kind: "policy", reason: why };
  }
  if (!settings.upstreams.includes(request.model)) return { kind: "requested", reason: "requested local" };
  const asked = `requested '${request.model}'`;
  const refused = refusal({ upstream: request.model, hints: request.routing }, snapshot, settings.filters);
  if (refused) return { kind: refused.kind, reason: `${asked}, but ${refused.why}` };
  return { upstream: request.model, kind: "requested", reason: asked };
}

/**
 * Where a local request that could not start may go instead: a full queue overflows (any request);
 * a prompt too long for the local context or a model still loading sends an "auto" request up.
 */
export function spillover(
  error: unknown,
  decision: Decision,
  request: GenerateRequest,
  snapshot: RouteSnapshot,
  settings: DecisionSettings,
): Decision | undefined {
  const upstream = autoUpstream(settings);
  if (!upstream || refusal({ upstream, hints: request.routing }, snapshot, settings.filters))
    return undefined;
  if (error instanceof QueueFullError && settings.overflow)
    return { upstream, kind: "overflow", reason: `overflow: the local queue is full (${decision.reason})` };
  if (decision.autoDifficulty === undefined) return undefined;
  if (error instanceof ContextOverflowError)
    return {
      upstream,
      kind: "overflow",
      reason: `${decision.reason}, but it does not fit the local context`,
    };
  if (error instanceof ModelLoadingError)
    return { upstream, kind: "overflow", reason: `${decision.reason}, but the local model is still loading` };
  return undefined;
}

/** The upstream a cascade may escalate to: only for "auto" requests the policy kept local. */
export function cascadeTarget(
  decision: Decision,
  request: GenerateRequest,
  snapshot: RouteSnapshot,
  settings: DecisionSettings,
): string | undefined {
  if (!settings.cascade || decision.autoDifficulty === undefined) return undefined;
  const upstream = autoUpstream(settings);
  if (!upstream || refusal({ upstream, hints: request.routing }, snapshot, settings.filters))
    return undefined;
  return upstream;
}

function autoUpstream(settings: DecisionSettings): string | undefined {
  return settings.autoUpstream ?? settings.upstreams[0];
}
