import type { RoutingConfig } from "./config.js";
import { sanitizeUpstreamText } from "./sanitize.js";

/** The few pino methods the router logs with; Fastify's `app.log` is one. */
export interface RouterLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/**
 * The router's log: every message passes through sanitizeUpstreamText with every configured key, as
 * route reasons do, since messages quote upstream errors and model lists. The logger may be given as
 * a function for a logger made after the router (the HTTP app's).
 */
export class RouterLog implements RouterLogger {
  private readonly logger: () => RouterLogger | undefined;
  /** Every configured key, masked wherever text leaves the router. */
  private readonly secrets: string[];

  constructor(logger: RouterLogger | (() => RouterLogger | undefined) | undefined, config: RoutingConfig) {
    this.logger = typeof logger === "function" ? logger : () => logger;
    this.secrets = config.upstreams.flatMap((u) => (u.apiKey ? [u.apiKey] : []));
  }

  info(fields: object, message: string): void {
    this.logger()?.info(fields, this.sanitize(message));
  }

  warn(fields: object, message: string): void {
    this.logger()?.warn(fields, this.sanitize(message));
  }

  /** Text in our words with upstream text inside it, masked and cut to 2000 characters. */
  sanitize(text: string): string {
    return sanitizeUpstreamText(text, this.secrets, 2000);
  }
}
