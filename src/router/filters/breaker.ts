import type { RouteFilter } from "./types.js";

/** Some replica must take requests: healthy, and its circuit breaker not open. */
export const breakerClosed: RouteFilter = ({ upstream }, snapshot) => {
  if (snapshot.upstreams.get(upstream)?.available) return undefined;
  return { kind: "circuit", why: `upstream '${upstream}' is unavailable (circuit open or unhealthy)` };
};
