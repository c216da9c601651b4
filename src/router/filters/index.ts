import { breakerClosed } from "./breaker.js";
import { withinBudget } from "./budget.js";
import { cloudAllowed } from "./cloud-allowed.js";
import { modelServed } from "./model.js";
import type { Candidate, Refusal, RouteFilter, RouteSnapshot } from "./types.js";

export type { Candidate, DecisionKind, Refusal, RouteFilter, RouteSnapshot } from "./types.js";

/**
 * The checks every upstream route passes, in the order their refusal is reported: privacy first (the
 * user's choice), then spend, then the upstream's own state.
 */
export const ROUTE_FILTERS: readonly RouteFilter[] = [cloudAllowed, withinBudget, breakerClosed, modelServed];

/** The first filter's refusal of a candidate, or undefined when every filter lets it through. */
export function refusal(
  candidate: Candidate,
  snapshot: RouteSnapshot,
  filters: readonly RouteFilter[] = ROUTE_FILTERS,
): Refusal | undefined {
  for (const filter of filters) {
    const refused = filter(candidate, snapshot);
    if (refused) return refused;
  }
  return undefined;
}
