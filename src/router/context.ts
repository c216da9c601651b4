import { AsyncLocalStorage } from "node:async_hooks";
import type { RoutingHints } from "./router.js";

/**
 * The routing hints of the request being handled, recorded by the HTTP hook in http.ts. A stopgap so
 * the router can honour per-request controls without api/ passing them; GenerateRequest.routing,
 * when set, wins.
 */
export const routingContext = new AsyncLocalStorage<RoutingHints>();
