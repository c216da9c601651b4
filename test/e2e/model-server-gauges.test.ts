import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { tinyServerFixture } from "../helpers/server-process.js";

// The gauges the Gateway API Inference Extension's Endpoint Picker scrapes, on the real server: two slots
// and three long streams, so one waits. Runs on both engines (npm test's second pass is in-process).

/** Liveness bound for a test: a gauge that never moves fails instead of stalling the suite. */
const bounded = { timeout: 120_000 };
/** Long enough to be seen running on a fast machine (hundreds of ms), short enough for a slow one. */
const LONG = { max_tokens: 600, ignore_eos: true };

interface Gauges {
  waiting: number;
  running: number;
  kv: number;
  text: string;
}

describe("model-server protocol gauges", () => {
  const ctx = tinyServerFixture(["--parallel", "2", "--ctx-size", "4096", "--no-response-cache"]);

  async function scrape(): Promise<Gauges> {
    const text = await (await fetch(`${ctx.server.url}/metrics`)).text();
    const read = (name: string) => {
      const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
      assert.ok(match, `${name} is missing from /metrics`);
      return Number(match[1]);
    };
    return {
      waiting: read("vllm:num_requests_waiting"),
      running: read("vllm:num_requests_running"),
      kv: read("vllm:kv_cache_usage_perc"),
      text,
    };
  }

  /** Scrapes until `done` holds (bounded), returning that scrape. */
  async function scrapeUntil(done: (g: Gauges) => boolean, what: string): Promise<Gauges> {
    let last: Gauges | undefined;
    for (let attempt = 0; attempt < 3000; attempt++) {
      last = await scrape();
      if (done(last)) return last;
      await sleep(10);
    }
    assert.fail(`/metrics never showed ${what}; last: ${JSON.stringify({ ...last, text: undefined })}`);
  }

  function stream(signal?: AbortSignal): Promise<string> {
    return fetch(`${ctx.server.url}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({
        messages: [{ role: "user", content: "Tell me a story." }],
        stream: true,
        ...LONG,
      }),
      signal,
    }).then((response) => {
      assert.equal(response.status, 200);
      return response.text();
    });
  }

  it("idle: nothing waiting or running, no KV in use, and the cache's layout", bounded, async () => {
    const idle = await scrape();
    assert.deepEqual([idle.waiting, idle.running, idle.kv], [0, 0, 0]);
    // 2 slots of 4096 tokens in blocks of 16.
    assert.match(idle.text, /^vllm:cache_config_info\{block_size="16",num_gpu_blocks="512"\} 1$/m);
    assert.match(idle.text, /^# TYPE vllm:kv_cache_usage_perc gauge$/m);
  });

  it(
    "under load they show the queue, the slots and growing KV use; when it ends they are 0 again",
    bounded,
    async () => {
      const streams = [stream(), stream(), stream()];
      const loaded = await scrapeUntil((g) => g.running === 2 && g.waiting === 1 && g.kv > 0, "a full load");
      assert.ok(loaded.kv <= 1, `kv_cache_usage_perc ${loaded.kv}`);
      // Generated tokens fill cells: the usage moves while the answers run.
      const later = await scrapeUntil((g) => g.kv > loaded.kv, `KV use above ${loaded.kv}`);
      assert.ok(later.kv <= 1, `kv_cache_usage_perc ${later.kv}`);

      for (const body of await Promise.all(streams)) assert.match(body, /data: \[DONE\]/);
      const idle = await scrape();
      assert.deepEqual([idle.waiting, idle.running, idle.kv], [0, 0, 0]);
    },
  );

  it("a client that disconnects mid-stream frees its slot and its KV cells", bounded, async () => {
    const controller = new AbortController();
    const gone = stream(controller.signal).catch(() => "aborted");
    await scrapeUntil((g) => g.running === 1 && g.kv > 0, "the stream running");
    controller.abort();
    assert.equal(await gone, "aborted");
    await scrapeUntil((g) => g.running === 0 && g.waiting === 0 && g.kv === 0, "the slot freed");
  });
});
