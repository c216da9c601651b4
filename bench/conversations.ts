/**
 * `npm run bench:conversations`: the Conversations API on the real server (the tiny synthetic model; no model
 * work is timed): listing a key's 1,000 conversations and opening one with 200 items, p50 and p99 over 50
 * requests each, through HTTP. Writes its section of docs/benchmarks.md.
 */
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startServerProcess } from "../test/helpers/server-process.js";
import { tinyModelPath } from "../test/helpers/tiny-model.js";
import { percentile } from "./http.js";
import { runLine, writeSection } from "./section.js";

const CONVERSATIONS = 1000;
const ITEMS = 200;
const RUNS = 50;

async function main(): Promise<void> {
  const home = await mkdtemp(path.join(os.tmpdir(), "edgellm-bench-conv-"));
  const server = await startServerProcess(["--model", await tinyModelPath(), "--threads", "1"], {
    EDGELLM_STATE_FILE: path.join(home, "state.sqlite"),
  });
  const post = async (url: string, body: unknown) => {
    const res = await fetch(`${server.url}${url}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { id: string };
  };
  const time = async (url: string) => {
    const ms: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      const res = await fetch(`${server.url}${url}`);
      await res.json();
      ms.push(performance.now() - start);
    }
    return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
  };
  try {
    let big = "";
    for (let i = 0; i < CONVERSATIONS; i++) {
      const { id } = await post("/v1/conversations", {
        metadata: { title: `Chat ${i} about the warranty of a washing machine` },
        items: [
          { role: "user", content: "我上个月买的洗衣机漏水怎么办?" },
          { role: "assistant", content: "请先关闭水源，然后检查进水管的接口是否拧紧。" },
        ],
      });
      if (i === 0) big = id;
    }
    for (let i = 0; i < (ITEMS - 2) / 2; i++)
      await post(`/v1/conversations/${big}/items`, {
        items: [
          { role: "user", content: `Question ${i}: how long is the warranty on the motor?` },
          {
            role: "assistant",
            content: `Answer ${i}: the motor has a ten-year warranty; the rest two years.`,
          },
        ],
      });
    const list = await time(`/v1/conversations?limit=${CONVERSATIONS}`);
    const open = await time(`/v1/conversations/${big}/items?order=asc&limit=${ITEMS}`);
    process.stdout.write(`${JSON.stringify({ list, open })}\n`);
    await report(list, open);
  } finally {
    await server.stop();
  }
}

async function report(list: { p50: number; p99: number }, open: { p50: number; p99: number }) {
  const r = (n: number) => n.toFixed(1);
  await writeSection("conversations", [
    "## Conversations",
    "",
    `${runLine()}, \`npm run bench:conversations\`: the real server with its state file, through HTTP, no model ` +
      `work. ${RUNS} requests each.`,
    "",
    "| measure | p50 | p99 | target |",
    "|---|---|---|---|",
    `| \`GET /v1/conversations\`, a key's ${CONVERSATIONS} conversations in one page | ${r(list.p50)} ms | ${r(list.p99)} ms | p50 < 20 ms |`,
    `| \`GET /v1/conversations/{id}/items\`, one conversation's ${ITEMS} items | ${r(open.p50)} ms | ${r(open.p99)} ms | < 50 ms |`,
  ]);
}

await main();
