import type { RouteFilter } from "./types.js";

/**
 * An upstream that just answered 404 for its model gets no requests for a while (see
 * UpstreamProvider.modelProblem): each would fail the same way and only delay the local answer.
 */
export const modelServed: RouteFilter = ({ upstream }, snapshot) => {
  const problem = snapshot.upstreams.get(upstream)?.modelProblem;
  return problem ? { kind: "no-model", why: problem } : undefined;
};
