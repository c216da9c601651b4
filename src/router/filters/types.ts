import type { RoutingHints } from "../../provider/types.js";

/** Kinds of routing decision, as the `kind` label of `edgellm_router_requests_total`. */
export type DecisionKind =
  | "requested"
  | "policy"
  | "fallback"
  | "overflow"
  | "cascade"
  | "no-cloud"
  | "budget"
  | "circuit"
  | "no-model";

/**
 * What the router knows at the moment of a decision, as plain data: the decision and the filters
 * read only this, so they are pure and tests can state any situation in a line.
 */
export interface RouteSnapshot {
  /** false: the server forbids every upstream. */
  cloud: boolean;
  budget: { exhausted: boolean; spentToday: number; daily?: number; currency?: string };
  /** Per upstream name: whether some replica takes requests, and why its model is not served, if so. */
  upstreams: ReadonlyMap<string, { available: boolean; modelProblem?: string }>;
}

/** An upstream a request might go to. */
export interface Candidate {
  upstream: string;
  hints?: RoutingHints;
}

/** Why a candidate may not be used, in words that follow "but" in a route reason. */
export interface Refusal {
  kind: DecisionKind;
  why: string;
}

/** One check on a candidate route: undefined when it may be used. */
export type RouteFilter = (candidate: Candidate, snapshot: RouteSnapshot) => Refusal | undefined;
