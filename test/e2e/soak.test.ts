import assert from "node:assert/strict";
import { test } from "node:test";
import { withChildren } from "../../bench/http.js";
import { soak } from "../../bench/soak.js";
import { tinyServerFixture } from "../helpers/server-process.js";

// The short version of the bench's soak: RSS must level off across hundreds of requests with 4 slots busy.
const e2e = tinyServerFixture(["--parallel", "4", "--no-response-cache"]);

test("memory levels off under a soak of short requests at concurrency 4", async (t) => {
  const pid = e2e.server.process.pid as number;
  // edgellm and, on the llama-server engine, its child: neither may grow.
  const pids = () => withChildren(pid);
  const result = await soak({ url: e2e.server.url, pids, requests: 1200, concurrency: 4, samples: 30 });
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const trace = result.rss.map(mib).join(" ");
  t.diagnostic(`RSS (MiB): ${trace}`);
  assert.equal(result.failures, 0, result.failureSamples.join("\n"));
  // Before the fix this grew about 1.1 MiB per request: some 440 MiB between the middle and the last third.
  assert.ok(result.lateGrowth < 24 * 1024 * 1024, `RSS kept growing (MiB): ${trace}`);
});
