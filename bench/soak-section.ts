import { once } from "node:events";
import { startServerProcess } from "../test/helpers/server-process.js";
import { startLlamaServer } from "./peer.js";
import { type SoakResult, soak } from "./soak.js";

/** The long soak of `npm run bench`: the CI test (test/e2e/soak.test.ts) is its short version. */

const REQUESTS = Number(process.env.BENCH_SOAK_REQUESTS ?? 3000);

export interface SoakFigures {
  edgellm: SoakResult;
  edgellmMixed: SoakResult;
  llama?: SoakResult;
}

export async function soakFigures(model: string, llamaServer?: string): Promise<SoakFigures> {
  const run = async (mixed: boolean) => {
    const server = await startServerProcess(["--model", model, "--parallel", "4", "--no-response-cache"]);
    try {
      return await soak({ url: server.url, pid: server.process.pid as number, requests: REQUESTS, mixed });
    } finally {
      await server.stop();
    }
  };
  const edgellm = await run(false);
  const edgellmMixed = await run(true);
  if (!llamaServer) return { edgellm, edgellmMixed };
  const { url, child } = await startLlamaServer(llamaServer, model);
  try {
    const llama = await soak({ url, pid: child.pid as number, requests: REQUESTS });
    return { edgellm, edgellmMixed, llama };
  } finally {
    child.kill("SIGTERM");
    if (child.exitCode === null) await once(child, "exit");
  }
}

export function soakSection(f: SoakFigures): string[] {
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  const row = (label: string, r: SoakResult) => {
    const third = Math.floor(r.rss.length / 3);
    const early = r.rss[third - 1] ?? r.rss[0];
    return `| ${label} | ${r.rss.length > 0 ? mib(r.rss[0]) : "-"} | ${mib(early)} | ${mib(r.rss[r.rss.length - 1])} | ${(r.lateGrowth / 1024 / 1024).toFixed(1)} MiB | ${(r.growthPerRequest / 1024).toFixed(1)} KiB | ${r.failures} | ${r.seconds.toFixed(0)} s |`;
  };
  return [
    "## Soak: memory over many requests, Q4_0",
    "",
    `${REQUESTS} short chat requests (3 tokens each, half streamed, every prompt unique), 4 clients at once, 4 slots,`,
    "response cache off; RSS sampled 30 times. Late growth is the mean RSS of the last third of the samples minus",
    "that of the middle third. Before the fix in `src/engine/native-garbage.ts` edgellm grew about 1.1 MiB per request",
    '(817 -> 1674 MiB after 800 requests on this model). "Mixed" adds json_object and logprobs requests.',
    "edgellm's figures include its tokenizer worker thread. llama-server's RSS rising through its soak was not",
    "investigated here.",
    "",
    "| server | RSS after first samples | after a third | at the end | late growth | per request | failures | time |",
    "|---|---|---|---|---|---|---|---|",
    row("edgellm, plain chat", f.edgellm),
    row("edgellm, mixed", f.edgellmMixed),
    ...(f.llama ? [row("llama-server, plain chat", f.llama)] : []),
    "",
  ];
}
