import { rssOf } from "./http.js";

/** A soak: many short chat requests at a fixed concurrency, with the server's RSS sampled as they go. */

export interface SoakOptions {
  /** Server base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** The server's processes (edgellm and its engine child), whose RSS is sampled and summed. */
  pids: () => number[];
  /** Requests in all. */
  requests: number;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  /** Completion tokens per request. Default 3. */
  maxTokens?: number;
  /** RSS samples taken over the run. Default 30. */
  samples?: number;
  /** Also send json_object and logprobs requests (a quarter each). Default false: plain chat only. */
  mixed?: boolean;
}

export interface SoakResult {
  /** RSS in bytes after each of `samples` equal shares of the requests. */
  rss: number[];
  /** Mean RSS of the last third of the samples minus that of the middle third, in bytes. */
  lateGrowth: number;
  /** Late growth per request, in bytes. */
  growthPerRequest: number;
  /** Requests that did not answer 200. */
  failures: number;
  /** What the first few failures answered (status and body, or the connection error). */
  failureSamples: string[];
  seconds: number;
}

/**
 * Every request is unique (no response cache answers) and half of them stream. Growth is judged by the last
 * third of the run against the middle third: the first third holds warm-up (allocator arenas, caches).
 * Plain chat is the sharper probe: json_object and logprobs requests make enough JS garbage to trigger V8's
 * collector on their own, which hid the sampler leak (see src/engine/native-garbage.ts).
 */
export async function soak(options: SoakOptions): Promise<SoakResult> {
  const concurrency = options.concurrency ?? 4;
  const sampleEvery = Math.max(1, Math.floor(options.requests / (options.samples ?? 30)));
  const rss: number[] = [];
  let next = 0;
  let failures = 0;
  const failureSamples: string[] = [];
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < options.requests; i = next++) {
      const failure = await send(options.url, soakRequest(i, options.maxTokens ?? 3, options.mixed ?? false));
      if (failure !== undefined) {
        failures++;
        if (failureSamples.length < 5) failureSamples.push(`request ${i}: ${failure}`);
      }
      if ((i + 1) % sampleEvery === 0) rss.push(await rssOf(options.pids()));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const third = Math.floor(rss.length / 3);
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const lateGrowth = mean(rss.slice(rss.length - third)) - mean(rss.slice(third, rss.length - third));
  return {
    rss,
    lateGrowth,
    growthPerRequest: lateGrowth / Math.max(1, third * sampleEvery),
    failures,
    failureSamples,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * One request; undefined when it answered 200, else what it answered. A request whose connection the server had
 * already closed (llama-server drops idle keep-alive connections, and fetch may pick one just then) never reached
 * it and is sent once more.
 */
async function send(url: string, body: unknown): Promise<string | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      if (response.status !== 200) return `${response.status} ${text.slice(0, 300)}`;
      // A stream that failed after its headers still answered 200: its error is the last event.
      const error = text.search(/^data: \{"error"/m);
      if (error !== -1) return `200 with an error event: ${text.slice(error, error + 300)}`;
      return undefined;
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      if (attempt > 0 || code !== "UND_ERR_SOCKET") return `no answer: ${(error as Error).message} (${code})`;
    }
  }
}

function soakRequest(i: number, maxTokens: number, mixed: boolean) {
  const base = {
    messages: [{ role: "user", content: `Soak question ${i}: what is ${i} times ${i % 97}?` }],
    max_tokens: maxTokens,
    stream: i % 2 === 0,
    temperature: 0.8,
  };
  switch (mixed ? i % 4 : 0) {
    case 1:
      return { ...base, response_format: { type: "json_object" } };
    case 3:
      return { ...base, logprobs: true, top_logprobs: 2 };
    default:
      return base;
  }
}
