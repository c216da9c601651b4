import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import OpenAI from "openai";
import { spawnOptions } from "../src/engine/binary/version.js";
import { listeningPort } from "../src/engine/llama-server/child.js";
import { type ServerProcess, startServerProcess } from "../test/helpers/server-process.js";
import { peakRss, percentile, streamOnce, withChildren } from "./http.js";

/**
 * Issue #12's comparison, in one run on one model file: edgellm with its llama-server engine, edgellm with its
 * in-process engine, and standalone llama-server (the peer), each with the same 4 slots and context. Single
 * requests alternate between the three servers (so drift in the machine hits all alike); every prompt is
 * unique and edgellm's response cache is off, so every answer is generated. Then each server alone runs the
 * multi-user chat workload.
 */

const SLOTS = 4;
const CTX_PER_SLOT = 2048;

export interface Contender {
  name: string;
  url: string;
  /** Processes whose RSS adds up to the server's (edgellm and its engine child). */
  pids: () => number[];
  stop: () => Promise<void>;
}

export interface EngineFigures {
  ttftP50: number;
  decode: number;
  /** Best and median of the alternating 4-stream rounds, tokens/s. */
  aggregate4: number;
  aggregate4Median: number;
  rssLoad: number;
  multiUser: MultiUserFigures;
}

export interface MultiUserFigures {
  /** TTFT of turns 2 and 3, p50 and p95, in ms. */
  ttftP50: number;
  ttftP95: number;
  /** TTFT of first turns (the whole document evaluated), p50, in ms. */
  firstTtftP50: number;
  wallSeconds: number;
  /** Prompt tokens of turns 2 and 3 served from a cache (slot or RAM), as the server reported them. */
  cachedShare: number;
}

export async function startContenders(binary: string, model: string): Promise<Contender[]> {
  const edgellmArgs = (engine: string) => [
    "--model",
    model,
    "--parallel",
    String(SLOTS),
    "--ctx-size",
    String(CTX_PER_SLOT),
    "--no-response-cache",
    "--engine",
    engine,
    "--llama-server",
    binary,
  ];
  const edgellm = async (engine: string): Promise<Contender> => {
    const server: ServerProcess = await startServerProcess(edgellmArgs(engine));
    const pid = server.process.pid as number;
    return {
      name: `edgellm (${engine})`,
      url: server.url,
      pids: () => withChildren(pid),
      stop: server.stop,
    };
  };
  const standalone = await startLlamaServer(binary, model);
  return [
    await edgellm("llama-server"),
    await edgellm("in-process"),
    {
      name: "llama-server",
      url: standalone.url,
      pids: () => [standalone.child.pid as number],
      stop: async () => {
        standalone.child.kill("SIGTERM");
        if (standalone.child.exitCode === null) await once(standalone.child, "exit");
      },
    },
  ];
}

/**
 * Short-prompt TTFT requests per contender. TTFT is bimodal on this VM (40-50 ms or 115-135 ms a request), and
 * which mode a request lands in depends on what ran just before it: on 2026-11-24 whichever server came right
 * after the in-process engine read 40-50 ms on nearly every request, the others 115-135 (the same servers
 * swapped places when the order was reversed). So every loop below cycles through every order of the
 * contenders, and each comes after each other one equally often.
 */
export const TTFT_REQUESTS = 24;
/** Single-stream decode requests of 128 tokens per contender; the median is reported. */
export const DECODE_REQUESTS = 6;
/** Rounds of 4 concurrent streams (about 4 s each) per contender; best and median are reported. */
export const AGGREGATE_ROUNDS = 6;

/** Every order of `0..n-1` (n! of them; 6 for three contenders). */
function orders(n: number): number[][] {
  if (n <= 1) return [Array.from({ length: n }, (_, i) => i)];
  return orders(n - 1).flatMap((rest) =>
    Array.from({ length: n }, (_, at) => [...rest.slice(0, at), n - 1, ...rest.slice(at)]),
  );
}

/**
 * The orders of `n` contenders in a sequence whose requests, run one after another and round again, have each
 * contender right after each other one equally often and never right after itself (for three: each of the
 * 6 ordered pairs 3 times in 18 requests). Found by search, which is instant for the 2 or 3 compared here.
 */
export function balancedOrders(n: number): number[][] {
  const all = orders(n);
  const follows = (sequence: number[][]) => {
    const flat = sequence.flat();
    const counts = new Map<string, number>();
    for (let j = 0; j < flat.length; j++) {
      const key = `${flat[j]}>${flat[(j + 1) % flat.length]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  };
  const fair = (sequence: number[][]) => {
    const counts = follows(sequence);
    const values = [...counts.entries()]
      .filter(([k]) => k.split(">")[0] !== k.split(">")[1])
      .map(([, v]) => v);
    return (
      values.length === n * (n - 1) && values.every((v) => v === values[0]) && values.length === counts.size
    );
  };
  const search = (sequence: number[][], left: number[][]): number[][] | undefined => {
    if (left.length === 0) return fair(sequence) ? sequence : undefined;
    for (const [i, next] of left.entries()) {
      const found = search([...sequence, next], [...left.slice(0, i), ...left.slice(i + 1)]);
      if (found) return found;
    }
    return undefined;
  };
  return (n <= 3 && search([], all)) || all;
}

/** Runs `measure` `rounds` times for each contender, each round in the next of the balanced orders. */
async function balanced(count: number, rounds: number, measure: (i: number, round: number) => Promise<void>) {
  const sequence = balancedOrders(count);
  for (let round = 0; round < rounds; round++)
    for (const i of sequence[round % sequence.length]) await measure(i, round);
}

/** Single-stream figures, then 4-stream aggregate and RSS, each in balanced orders of the contenders. */
export async function measureAlternating(
  contenders: Contender[],
): Promise<Map<string, Omit<EngineFigures, "multiUser">>> {
  const clients = contenders.map(
    (c) => new OpenAI({ baseURL: `${c.url}/v1`, apiKey: "unused", maxRetries: 0 }),
  );
  for (const client of clients)
    await streamOnce(client, {
      model: "local",
      messages: [{ role: "user", content: "warm up" }],
      max_tokens: 4,
    });
  const ttfts = contenders.map(() => [] as number[]);
  const decodes = contenders.map(() => [] as number[]);
  await balanced(clients.length, TTFT_REQUESTS, async (i, round) => {
    const r = await streamOnce(clients[i], {
      model: "local",
      messages: [
        { role: "user", content: `Question ${round} for ${i}: what is ${round} times ${round + i + 3}?` },
      ],
      max_tokens: 2,
    });
    ttfts[i].push(r.ttftMs);
  });
  await balanced(clients.length, DECODE_REQUESTS, async (i, round) => {
    const r = await streamOnce(clients[i], {
      model: "local",
      messages: [{ role: "user", content: `Tell me a long story, take ${round} on server ${i}.` }],
      max_tokens: 128,
      ignore_eos: true,
      seed: 7 + round,
    });
    decodes[i].push((r.completionTokens - 1) / (r.decodeMs / 1000));
  });
  const aggregates = contenders.map(() => [] as number[]);
  const rss = contenders.map(() => 0);
  await balanced(clients.length, AGGREGATE_ROUNDS, async (i, round) => {
    const sampler = peakRss(contenders[i].pids);
    aggregates[i].push(await aggregate4(clients[i], `${round}-${i}`));
    rss[i] = Math.max(rss[i], sampler.stop());
  });
  return new Map(
    contenders.map((c, i) => [
      c.name,
      {
        ttftP50: percentile(ttfts[i], 50),
        decode: median(decodes[i]),
        aggregate4: Math.max(...aggregates[i]),
        aggregate4Median: median(aggregates[i]),
        rssLoad: rss[i],
      },
    ]),
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return Number.isInteger(middle) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[Math.floor(middle)];
}

async function aggregate4(client: OpenAI, tag: string): Promise<number> {
  const start = performance.now();
  const results = await Promise.all(
    Array.from({ length: 4 }, (_, i) =>
      streamOnce(client, {
        model: "local",
        messages: [{ role: "user", content: `Client ${i} in round ${tag}: tell me a long story.` }],
        max_tokens: 128,
        ignore_eos: true,
      }),
    ),
  );
  const tokens = results.reduce((sum, r) => sum + r.completionTokens, 0);
  return tokens / ((performance.now() - start) / 1000);
}

const USERS = 8;
const ACTIVE = 4;
const TURNS = 3;
const ANSWER_TOKENS = 48;

/**
 * 8 users, each with a ~500-token document of their own in the system prompt, 3 turns each, 4 users active at
 * once, 48-token answers. Turns are taken turn by turn across users, so between a user's turns the other
 * conversations pass through the 4 slots: a server that cannot bring back an evicted conversation's KV state
 * recomputes its whole history.
 */
export async function multiUser(contender: Contender, salt: string): Promise<MultiUserFigures> {
  const client = new OpenAI({ baseURL: `${contender.url}/v1`, apiKey: "unused", maxRetries: 0 });
  const histories = Array.from({ length: USERS }, (_, user) => [
    { role: "system" as const, content: `Answer from this document.\n\n${documentFor(user, salt)}` },
  ]) as OpenAI.ChatCompletionMessageParam[][];
  const queue: { user: number; turn: number }[] = [];
  for (let turn = 0; turn < TURNS; turn++)
    for (let user = 0; user < USERS; user++) queue.push({ user, turn });
  const done = Array.from({ length: USERS }, () => -1);
  const ttfts: number[] = [];
  const firstTtfts: number[] = [];
  let cached = 0;
  let prompt = 0;
  const start = performance.now();
  const worker = async () => {
    for (;;) {
      const index = queue.findIndex((task) => done[task.user] === task.turn - 1 && !busy.has(task.user));
      if (index === -1) {
        if (queue.length === 0) return;
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      const [{ user, turn }] = queue.splice(index, 1);
      busy.add(user);
      const messages = histories[user];
      messages.push({
        role: "user",
        content: `Question ${turn + 1} of user ${user}: what does the document say about item ${turn * 7 + user}?`,
      });
      const r = await streamOnce(client, {
        model: "local",
        messages,
        max_tokens: ANSWER_TOKENS,
        ignore_eos: true,
        seed: user,
      });
      messages.push({ role: "assistant", content: r.text });
      if (turn === 0) firstTtfts.push(r.ttftMs);
      if (turn > 0) {
        ttfts.push(r.ttftMs);
        cached += r.cachedTokens;
        prompt += r.promptTokens;
      }
      done[user] = turn;
      busy.delete(user);
    }
  };
  const busy = new Set<number>();
  await Promise.all(Array.from({ length: ACTIVE }, worker));
  return {
    ttftP50: percentile(ttfts, 50),
    ttftP95: percentile(ttfts, 95),
    firstTtftP50: percentile(firstTtfts, 50),
    wallSeconds: (performance.now() - start) / 1000,
    cachedShare: prompt > 0 ? cached / prompt : 0,
  };
}

/** A deterministic ~500-token document for one user (about 380 words). */
function documentFor(user: number, salt: string): string {
  const words = [
    "river",
    "market",
    "engine",
    "harvest",
    "lantern",
    "copper",
    "meadow",
    "signal",
    "garden",
    "ledger",
    "harbor",
    "winter",
    "orchard",
    "canvas",
    "thunder",
    "pepper",
  ];
  let seed = (user + 1) * 2654435761 + salt.length * 97;
  const out: string[] = [`Document ${user} (${salt}).`];
  for (let i = 0; i < 380; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    out.push(words[seed % words.length] + (i % 12 === 11 ? `, item ${i}.` : ""));
  }
  return out.join(" ");
}

export async function startLlamaServer(
  binary: string,
  model: string,
  /** Arguments in place of the chat defaults (slots and context). */
  args: string[] = ["-np", String(SLOTS), "-c", String(SLOTS * CTX_PER_SLOT)],
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(binary, ["-m", model, "--host", "127.0.0.1", "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    ...spawnOptions(binary),
  });
  let log = "";
  let port: number | undefined;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk) => {
      log = (log + chunk).slice(-8000);
      port ??= listeningPort(log);
    });
  }
  for (let attempt = 0; attempt < 1200; attempt++) {
    if (child.exitCode !== null) throw new Error(`llama-server exited:\n${log}`);
    if (port) {
      const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
      if (res?.status === 200) return { url: `http://127.0.0.1:${port}`, child };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`llama-server never became ready:\n${log}`);
}
