import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import OpenAI from "openai";

/** Measurements through the real HTTP server with the official client, as an application sees it. */

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** The summed RSS of processes (one that has exited counts 0). */
export async function rssOf(pids: number[]): Promise<number> {
  const sizes = await Promise.all(pids.map((pid) => rssBytes(pid).catch(() => 0)));
  return sizes.reduce((a, b) => a + b, 0);
}

/** A process and its children (edgellm and its llama-server engine with its watchdog). */
export function withChildren(pid: number): number[] {
  try {
    const out = execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" });
    return [pid, ...out.split("\n").filter(Boolean).map(Number)];
  } catch {
    return [pid];
  }
}

/**
 * Samples the summed RSS of processes every 50 ms until stopped; `stop()` returns the peak, at least `floor`.
 * The processes are listed once, when sampling starts: listing them runs `pgrep` synchronously, and doing
 * that every 50 ms blocked the measuring client's event loop and took CPU from the server it measured
 * (edgellm's 4-stream aggregate, llama-server engine, 0.5B-shape Q4_0, read 121-130 tokens/s with it against
 * 140-151 with the list made once, three alternating rounds, 2026-11-24), while standalone llama-server, a
 * single pid, paid nothing.
 */
export function peakRss(pids: () => number[], floor = 0): { stop(): number } {
  let peak = floor;
  const listed = pids();
  const timer = setInterval(() => {
    rssOf(listed).then(
      (v) => {
        peak = Math.max(peak, v);
      },
      () => {},
    );
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

interface StreamResult {
  ttftMs: number;
  /** First to last token. */
  decodeMs: number;
  completionTokens: number;
  promptTokens: number;
  cachedTokens: number;
  text: string;
  cache: string | null;
}

type Body = Omit<OpenAI.ChatCompletionCreateParamsStreaming, "stream" | "stream_options"> & {
  ignore_eos?: boolean;
};

export async function streamOnce(client: OpenAI, body: Body): Promise<StreamResult> {
  let start = performance.now();
  const create = () =>
    client.chat.completions
      .create({
        ...body,
        stream: true,
        stream_options: { include_usage: true },
      } as OpenAI.ChatCompletionCreateParamsStreaming)
      .withResponse();
  let opened: Awaited<ReturnType<typeof create>>;
  try {
    opened = await create();
  } catch (error) {
    // A pooled keep-alive connection the server closed a moment ago (Node and llama-server both close idle
    // ones after 5 s) fails at once; one retry on a fresh connection, timed from the retry.
    if (!(error instanceof OpenAI.APIConnectionError)) throw error;
    start = performance.now();
    opened = await create();
  }
  const { data, response } = opened;
  let first = 0;
  let last = 0;
  let text = "";
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of data) {
    const delta = chunk.choices[0]?.delta?.content;
    if (delta) {
      if (first === 0) first = performance.now();
      last = performance.now();
      text += delta;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  return {
    ttftMs: first - start,
    decodeMs: last - first,
    completionTokens: usage?.completion_tokens ?? 0,
    promptTokens: usage?.prompt_tokens ?? 0,
    cachedTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
    text,
    cache: response.headers.get("x-edgellm-cache"),
  };
}

/** Total completion tokens per second with `clients` streams at once. */
export async function aggregate(
  client: OpenAI,
  clients: number,
  maxTokens: number,
  round: number,
): Promise<number> {
  const start = performance.now();
  const results = await Promise.all(
    Array.from({ length: clients }, (_, i) =>
      streamOnce(client, {
        model: "local",
        messages: [{ role: "user", content: `Client ${i} in round ${round}: tell me a long story.` }],
        max_tokens: maxTokens,
        ignore_eos: true,
      }),
    ),
  );
  const tokens = results.reduce((sum, r) => sum + r.completionTokens, 0);
  return tokens / ((performance.now() - start) / 1000);
}
