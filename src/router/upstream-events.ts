import type { RouterMetrics } from "./accounting.js";
import type { BreakerOptions } from "./breaker.js";
import type { RoutingConfig, UpstreamConfig } from "./config.js";
import type { RouterLog } from "./log.js";
import { describeModelCheck } from "./model-check.js";
import type { UpstreamOptions } from "./upstream.js";
import { seconds } from "./upstream-errors.js";

/**
 * What an UpstreamProvider reports, to the metrics and the log: each failed attempt (warn), each
 * circuit change (warn when it opens, info when it closes) and a model check that finds a problem
 * (warn). The composition root passes these to each UpstreamProvider it builds.
 */
export function upstreamEvents(
  upstream: UpstreamConfig,
  routing: RoutingConfig,
  deps: { metrics: RouterMetrics; log: RouterLog; now?: () => number },
): UpstreamOptions {
  const { metrics, log } = deps;
  const { name } = upstream;
  const { breaker } = routing;
  const breakerOptions: BreakerOptions = {
    failureThreshold: breaker.failures,
    cooldownMs: breaker.cooldownMs,
    now: deps.now,
  };
  let lastCheck: string | undefined;
  return {
    breaker: breakerOptions,
    onFailure: (error, replica) => {
      metrics.upstreamFailures.inc({ upstream: name, code: error.code ?? "unknown" });
      const status = error.upstreamStatus;
      // The message quotes the upstream (sanitized where the error was made, and again by the log).
      const fields = {
        upstream: name,
        replica,
        code: error.code,
        summary: error.summary,
        ...(status && { status }),
      };
      log.warn(fields, error.message);
    },
    onCircuit: (replica, open) => {
      metrics.circuitOpen.set({ upstream: name, replica: String(replica) }, open ? 1 : 0);
      const which = `upstream '${name}' replica ${replica + 1}/${upstream.baseUrls.length}`;
      if (open)
        log.warn(
          { upstream: name, replica, circuit: "open" },
          `${which}: circuit opened after ${breaker.failures} failures; requests go elsewhere for ${seconds(breaker.cooldownMs)}`,
        );
      else log.info({ upstream: name, replica, circuit: "closed" }, `${which}: circuit closed`);
    },
    onModelCheck: (check) => {
      const fields = { upstream: name, model: upstream.model, check: check.state };
      const problem = describeModelCheck(name, upstream.model, check);
      if (problem) log.warn(fields, problem);
      // All is well at start goes unsaid; a problem put right is worth a line.
      else if (lastCheck !== undefined)
        log.info(fields, `upstream '${name}' now lists model '${upstream.model}'`);
      lastCheck = check.state;
    },
  };
}
