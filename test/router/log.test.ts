import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveRoutingConfig } from "../../src/router/config.js";
import { RouterLog } from "../../src/router/log.js";
import { recordingLogger } from "./harness.js";

test("the router's log masks keys, and keeps what comes before the app's logger exists", () => {
  const key = "sk-live-0123456789abcdefABCDEF";
  const config = resolveRoutingConfig(
    { upstreams: { cloud: { baseUrl: "http://127.0.0.1:9/v1", apiKey: key } } },
    {},
  );
  const log = new RouterLog(undefined, config);
  log.warn({ upstream: "cloud" }, `upstream 'cloud' failed: HTTP 401: bad key ${key}`);
  const { logger, lines } = recordingLogger();
  log.attach(logger);
  log.info({}, "after");
  assert.deepEqual(
    lines.map((l) => `${l.level} ${l.message}`),
    ["warn upstream 'cloud' failed: HTTP 401: bad key [redacted]", "info after"],
  );
  assert.deepEqual(lines[0].fields, { upstream: "cloud" });
});
