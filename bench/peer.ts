import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import OpenAI from "openai";
import { spawnOptions } from "../src/engine/binary/version.js";
import { startServerProcess } from "../test/helpers/server-process.js";
import { aggregate, peakRss, percentile, rssBytes, streamOnce } from "./http.js";

/**
 * edgellm against llama.cpp's own llama-server on the same model file, same slots, same threads, in one run,
 * through the same OpenAI client. llama-server is built from the llama.cpp source that node-llama-cpp ships
 * (scripts/build-llama-server.sh); the section is skipped when no binary is found.
 */

const SLOTS = 4;
const CTX_PER_SLOT = 2048;

export interface PeerFigures {
  ttftP50: number;
  decode: number;
  aggregate4: number;
  aggregate1: number;
  rssLoad: number;
}

async function measure(baseURL: string, pid: number): Promise<PeerFigures> {
  const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: "unused", maxRetries: 0 });
  // Warm-up: the first request pays one-off costs on both servers.
  await streamOnce(client, {
    model: "local",
    messages: [{ role: "user", content: "warm up" }],
    max_tokens: 4,
  });
  const ttfts: number[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await streamOnce(client, {
      model: "local",
      messages: [{ role: "user", content: `Peer question ${i}: what is ${i} times ${i + 3}?` }],
      max_tokens: 2,
    });
    ttfts.push(r.ttftMs);
  }
  const decodes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await streamOnce(client, {
      model: "local",
      messages: [{ role: "user", content: `Tell me a long story, take ${i}.` }],
      max_tokens: 128,
      ignore_eos: true,
      seed: 7 + i,
    });
    decodes.push((r.completionTokens - 1) / (r.decodeMs / 1000));
  }
  const sampler = peakRss(pid, await rssBytes(pid));
  const aggregate1 = Math.max(await aggregate(client, 1, 64, 1001), await aggregate(client, 1, 64, 1002));
  const aggregate4 = Math.max(await aggregate(client, 4, 64, 1004), await aggregate(client, 4, 64, 1005));
  const rssLoad = sampler.stop();
  return { ttftP50: percentile(ttfts, 50), decode: percentile(decodes, 50), aggregate1, aggregate4, rssLoad };
}

export async function startLlamaServer(
  binary: string,
  model: string,
): Promise<{ url: string; child: ChildProcess }> {
  const port = 18000 + Math.floor(Math.random() * 2000);
  const child = spawn(
    path.resolve(binary),
    [
      "-m",
      path.resolve(model),
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "-np",
      String(SLOTS),
      "-c",
      String(SLOTS * CTX_PER_SLOT),
    ],
    { stdio: ["ignore", "ignore", "pipe"], ...spawnOptions(binary) },
  );
  let log = "";
  child.stderr?.on("data", (chunk) => {
    log = (log + chunk).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 600; attempt++) {
    if (child.exitCode !== null) throw new Error(`llama-server exited:\n${log}`);
    const res = await fetch(`${url}/health`).catch(() => undefined);
    if (res?.status === 200) return { url, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`llama-server never became ready:\n${log}`);
}

export async function comparePeers(
  binary: string,
  model: string,
): Promise<{ edgellm: PeerFigures; llama: PeerFigures }> {
  const edge = await startServerProcess([
    "--model",
    model,
    "--parallel",
    String(SLOTS),
    "--ctx-size",
    String(CTX_PER_SLOT),
    "--no-response-cache",
  ]);
  let edgellm: PeerFigures;
  try {
    edgellm = await measure(edge.url, edge.process.pid as number);
  } finally {
    await edge.stop();
  }
  const { url, child } = await startLlamaServer(binary, model);
  try {
    return { edgellm, llama: await measure(url, child.pid as number) };
  } finally {
    child.kill("SIGTERM");
    if (child.exitCode === null) await once(child, "exit");
  }
}
