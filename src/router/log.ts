import type { RoutingConfig } from "./config.js";
import { sanitizeUpstreamText } from "./sanitize.js";

/** The few pino methods the router logs with; Fastify's `app.log` is one. */
export interface RouterLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Lines kept while no logger is attached yet; past it the oldest are dropped. */
const PENDING_LIMIT = 100;

/**
 * The router's log: every message passes through sanitizeUpstreamText with every configured key, as
 * route reasons do, since messages quote upstream errors and model lists. The composition root makes
 * it before the HTTP app whose logger it writes to (upstream model checks start at once), so lines
 * logged before `attach` are kept and written then.
 */
export class RouterLog implements RouterLogger {
  private logger?: RouterLogger;
  private pending: { level: "info" | "warn"; fields: object; message: string }[] = [];
  /** Every configured key, masked wherever text leaves the router. */
  private readonly secrets: string[];

  constructor(logger: RouterLogger | undefined, config: RoutingConfig) {
    this.logger = logger;
    this.secrets = config.upstreams.flatMap((u) => (u.apiKey ? [u.apiKey] : []));
  }

  /** Starts writing to `logger`, first the lines kept until now. */
  attach(logger: RouterLogger): void {
    this.logger = logger;
    for (const line of this.pending.splice(0)) logger[line.level](line.fields, line.message);
  }

  info(fields: object, message: string): void {
    this.write("info", fields, message);
  }

  warn(fields: object, message: string): void {
    this.write("warn", fields, message);
  }

  /** Text in our words with upstream text inside it, masked and cut to 2000 characters. */
  sanitize(text: string): string {
    return sanitizeUpstreamText(text, this.secrets, 2000);
  }

  private write(level: "info" | "warn", fields: object, message: string): void {
    const clean = this.sanitize(message);
    if (this.logger) this.logger[level](fields, clean);
    else if (this.pending.push({ level, fields, message: clean }) > PENDING_LIMIT) this.pending.shift();
  }
}
