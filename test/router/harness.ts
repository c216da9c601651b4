import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { DEFAULT_SAMPLING, type GenerateRequest, type StreamPart } from "../../src/provider/types.js";
import { RouterMetrics } from "../../src/router/accounting.js";
import { type RoutingFile, resolveRoutingConfig } from "../../src/router/config.js";
import { Router, type RouterLogger } from "../../src/router/router.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { createUpstreams } from "../../src/server.js";
import { FakeEngine } from "../helpers/fake-engine.js";

// In-process: the router in front of a Scheduler with the fake engine, and scripted upstreams on loopback.

export interface RouterSetup {
  reply?: (prompt: string) => string;
  maxQueue?: number;
  stepDelayMs?: number;
  logger?: RouterLogger;
}

export function routerFor(file: RoutingFile, opts: RouterSetup = {}) {
  const engine = new FakeEngine(1, 4096, opts.reply ?? (() => "local answer"));
  engine.stepDelayMs = opts.stepDelayMs ?? 0;
  const scheduler = new Scheduler({ maxQueue: opts.maxQueue ?? 8 });
  scheduler.attach(engine);
  const registry = new Registry();
  const config = resolveRoutingConfig(file, {});
  const metrics = new RouterMetrics(registry);
  const upstreams = createUpstreams(config, { metrics, log: opts.logger ?? quiet });
  const router = new Router({ local: scheduler, config, upstreams, metrics, logger: opts.logger });
  return { router, scheduler, engine, registry };
}

export function chat(model: string, content: string, extra: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    model,
    prompt: { kind: "chat", messages: [{ role: "user", content }] },
    sampling: DEFAULT_SAMPLING,
    ...extra,
  };
}

export async function collect(router: Router, request: GenerateRequest) {
  const parts: StreamPart[] = [];
  for await (const part of router.stream(request, { signal: new AbortController().signal })) parts.push(part);
  const meta = parts.find((p) => p.type === "meta");
  assert.equal(parts[0].type, "meta", "the meta part comes first");
  const text = parts.map((p) => (p.type === "text-delta" ? p.text : "")).join("");
  return { parts, meta: meta?.type === "meta" ? meta.meta : {}, text };
}

/** Streams until the stream fails; returns the parts before the failure and the error (which must come). */
export async function collectUntilError(router: Router, request: GenerateRequest) {
  const parts: StreamPart[] = [];
  try {
    for await (const part of router.stream(request, { signal: new AbortController().signal }))
      parts.push(part);
  } catch (error) {
    return { parts, error };
  }
  assert.fail("the stream ended without an error");
}

const quiet: RouterLogger = { info: () => {}, warn: () => {} };

/** A RouterLogger that keeps every line. */
export function recordingLogger() {
  const lines: { level: "info" | "warn"; fields: Record<string, unknown>; message: string }[] = [];
  const logger: RouterLogger = {
    info: (fields, message) =>
      lines.push({ level: "info", fields: fields as Record<string, unknown>, message }),
    warn: (fields, message) =>
      lines.push({ level: "warn", fields: fields as Record<string, unknown>, message }),
  };
  return { logger, lines };
}
