/**
 * `npm run bench`: speed and memory of edgellm on the 0.5B-shape synthetic model (random weights; its
 * speed equals Qwen2.5-0.5B's because cost does not depend on weight values), compared in one run with a
 * bare node-llama-cpp loop on the same file. Writes docs/benchmarks.md.
 */
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import OpenAI from "openai";
import { findLlamaServer } from "../src/engine/binary/find.js";
import { edgellmHome } from "../src/models/registry.js";
import { SYNTH_FORMAT_VERSION, type SynthType, synthesizeModel } from "../src/models/synth.js";
import { startServerProcess } from "../test/helpers/server-process.js";
import { BareEngine } from "./bare.js";
import {
  AGGREGATE_ROUNDS,
  DECODE_REQUESTS,
  type EngineFigures,
  type MultiUserFigures,
  measureAlternating,
  multiUser,
  startContenders,
  TTFT_REQUESTS,
} from "./engines.js";
import { aggregate, peakRss, percentile, rssOf, streamOnce, withChildren } from "./http.js";
import { soakFigures, soakSection } from "./soak-section.js";

const execFileAsync = promisify(execFile);
const TYPES: SynthType[] = (process.env.BENCH_TYPES?.split(",") as SynthType[]) ?? ["q4_0", "q8_0"];
const PARALLEL = 8;
const CTX = 2048;
const DECODE_TOKENS = 128;
const CONCURRENCY = [1, 2, 4, 8];
/** KV cache bytes per token for the 0.5B shape: layers x (K+V) x kv heads x head dim x f16. */
const KV_BYTES_PER_TOKEN = 24 * 2 * 2 * 64 * 2;

async function modelFile(type: SynthType): Promise<string> {
  const file = path.join(
    edgellmHome(),
    "synthetic",
    `qwen2.5-0.5b-shape-${type}-seed42-v${SYNTH_FORMAT_VERSION}.gguf`,
  );
  const exists = await stat(file).then(
    (s) => s.size > 1e8,
    () => false,
  );
  if (!exists) {
    process.stderr.write(`generating ${file}\n`);
    await synthesizeModel({ shape: "0.5b", type, out: file, seed: 42 });
  }
  return file;
}

const DOCUMENT = Array.from(
  { length: 120 },
  (_, i) =>
    `Section ${i}: the ${["river", "market", "station", "garden", "bridge"][i % 5]} opens at ${(i % 12) + 1} o'clock.`,
).join(" ");

const COPY_JSON = JSON.stringify({
  city: "Beijing",
  date: "2026-11-23",
  readings: Array.from({ length: 8 }, (_, i) => ({
    hour: i * 3,
    temperature_c: 4 + i,
    humidity_pct: 40 + i * 2,
    wind_kmh: 10 + i,
  })),
});

interface ModelFigures {
  type: SynthType;
  fileBytes: number;
  bare: {
    loadSeconds: number;
    prefill: number;
    decode: number;
    secondTurnNewMs: number;
    newTokens: number;
    batched: Record<number, number>;
  };
  server: {
    /** The engine the server ran (its /health says). */
    engine: string;
    loadSeconds: number;
    rssIdle: number;
    rssLoad: number;
    ttftP50: number;
    ttftP95: number;
    ttftLongPromptMs: number;
    longPromptTokens: number;
    decode: number;
    aggregate: Record<number, number>;
    firstTurnTtft: number;
    secondTurnTtft: number;
    secondTurnCached: number;
    secondTurnPrompt: number;
    cacheHitTtft: number;
  };
  lookup?: { plain: number; lookup: number; tokens: number };
}

async function benchModel(type: SynthType): Promise<ModelFigures> {
  const file = await modelFile(type);
  const fileBytes = (await stat(file)).size;
  process.stderr.write(`\n== ${type}: bare node-llama-cpp\n`);
  const bare = await BareEngine.load(file);
  const prefillTokens = bare.chatTokens(DOCUMENT).slice(0, 512);
  const prefill = await bare.prefill(prefillTokens);
  // Decode speed is noisy on a shared 2-core VM: the median of three runs, for the bare loop and the server alike.
  const decodeRuns: number[] = [];
  for (let i = 0; i < 3; i++)
    decodeRuns.push(await bare.decode(bare.chatTokens("Tell me a long story."), DECODE_TOKENS));
  const decode = percentile(decodeRuns, 50);
  const firstTurn = bare.chatTokens(DOCUMENT);
  const secondTurnText =
    "<|im_end|>\n<|im_start|>user\nNow summarise that in one line, please.<|im_end|>\n<|im_start|>assistant\n";
  const newTokens = bare.model.tokenize(secondTurnText, true);
  const secondTurnNewMs = await bare.extendPrefix(firstTurn, newTokens);
  const batched: Record<number, number> = {};
  for (const c of [1, 4]) batched[c] = Math.max(await bare.batched(c, 64), await bare.batched(c, 64));
  const lookup = type === "q4_0" ? await bare.lookupSpeedup(COPY_JSON) : undefined;
  const bareLoad = bare.loadSeconds;
  await bare.dispose();

  process.stderr.write(`== ${type}: through the HTTP server\n`);
  const started = performance.now();
  const server = await startServerProcess([
    "--model",
    file,
    "--parallel",
    String(PARALLEL),
    "--ctx-size",
    String(CTX),
  ]);
  const loadSeconds = (performance.now() - started) / 1000;
  const pid = server.process.pid as number;
  const engine = ((await (await fetch(`${server.url}/health`)).json()) as { engine?: string }).engine ?? "?";
  try {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
    // edgellm and, on the llama-server engine, its child: the memory the server takes.
    const rssIdle = await rssOf(withChildren(pid));

    const stage = (name: string) =>
      process.stderr.write(`   ${name} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
    stage("ttft");
    const ttfts: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await streamOnce(client, {
        model: "local",
        messages: [{ role: "user", content: `Question ${i}: what is ${i} plus ${i * 7}?` }],
        max_tokens: 2,
      });
      ttfts.push(r.ttftMs);
    }
    const longPrompt = await streamOnce(client, {
      model: "local",
      messages: [{ role: "user", content: `${DOCUMENT} (fresh ${Date.now()})` }],
      max_tokens: 2,
    });

    stage("single-stream decode");
    const serverRuns: number[] = [];
    for (let i = 0; i < 3; i++) {
      const single = await streamOnce(client, {
        model: "local",
        messages: [{ role: "user", content: "Tell me a long story." }],
        max_tokens: DECODE_TOKENS,
        ignore_eos: true,
        seed: 1 + i,
      });
      serverRuns.push((single.completionTokens - 1) / (single.decodeMs / 1000));
    }
    const serverDecode = percentile(serverRuns, 50);

    const sampler = peakRss(() => withChildren(pid), rssIdle);
    stage("aggregate");
    const agg: Record<number, number> = {};
    // Best of two rounds per concurrency, the same rule for every row.
    for (const c of CONCURRENCY)
      agg[c] = Math.max(await aggregate(client, c, 64, c), await aggregate(client, c, 64, c + 100));
    const rssLoad = sampler.stop();

    stage("second turn");
    const conversation: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: DOCUMENT }];
    const turn1 = await streamOnce(client, {
      model: "local",
      messages: conversation,
      max_tokens: 16,
      seed: 5,
    });
    const turn2 = await streamOnce(client, {
      model: "local",
      messages: [
        ...conversation,
        { role: "assistant", content: turn1.text },
        { role: "user", content: "Now summarise that in one line, please." },
      ],
      max_tokens: 4,
      seed: 5,
    });

    stage("cache hit");
    const deterministic = {
      model: "local",
      messages: [{ role: "user" as const, content: "Cache me." }],
      max_tokens: 32,
      temperature: 0,
    };
    await streamOnce(client, deterministic);
    const hit = await streamOnce(client, deterministic);
    if (hit.cache !== "hit") throw new Error("the repeated request was not a cache hit");

    return {
      type,
      fileBytes,
      bare: { loadSeconds: bareLoad, prefill, decode, secondTurnNewMs, newTokens: newTokens.length, batched },
      server: {
        engine,
        loadSeconds,
        rssIdle,
        rssLoad,
        ttftP50: percentile(ttfts, 50),
        ttftP95: percentile(ttfts, 95),
        ttftLongPromptMs: longPrompt.ttftMs,
        longPromptTokens: longPrompt.promptTokens,
        decode: serverDecode,
        aggregate: agg,
        firstTurnTtft: turn1.ttftMs,
        secondTurnTtft: turn2.ttftMs,
        secondTurnCached: turn2.cachedTokens,
        secondTurnPrompt: turn2.promptTokens,
        cacheHitTtft: hit.ttftMs,
      },
      lookup,
    };
  } finally {
    await server.stop();
  }
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const mark = (ok: boolean) => (ok ? "met" : "**missed**");

function report(figures: ModelFigures[], extra: string[]): string {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    "# Benchmarks",
    "",
    "Written by `npm run bench`. **Every figure here comes from the synthetic 0.5B-shape model** (`edgellm synth",
    "--shape 0.5b`: Qwen2.5-0.5B's exact architecture and tokenizer with seeded random weights), whose speed equals",
    "the real model's because cost does not depend on weight values. Quality is not measured here.",
    "",
    `- Date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
    `- Machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, no GPU, ${os.type()} ${os.release()}`,
    `- Node ${process.version}; node-llama-cpp ${process.env.npm_package_dependencies_node_llama_cpp ?? "3.x"}, CPU build`,
    `- Server: \`edgellm serve --parallel ${PARALLEL} --ctx-size ${CTX}\` (threads: every core), engine: ${figures.map((f) => f.server.engine).join(", ")} (the default, \`auto\`); bare loop: node-llama-cpp on the same file, same sampling, in the same run`,
    "",
  ];
  for (const f of figures) {
    const s = f.server;
    const kv = KV_BYTES_PER_TOKEN * CTX * PARALLEL;
    const overhead = s.decode / f.bare.decode;
    const scaling = s.aggregate[4] / s.aggregate[1];
    const secondRatio = s.secondTurnTtft / f.bare.secondTurnNewMs;
    const rssBudget = f.fileBytes + kv + 200 * 1024 * 1024;
    lines.push(
      `## Qwen2.5-0.5B shape, ${f.type.toUpperCase()} (${mib(f.fileBytes)} file)`,
      "",
      "| measure | value |",
      "|---|---|",
      `| model load, bare node-llama-cpp | ${f2(f.bare.loadSeconds)} s |`,
      `| server start to ready (process start, load, ${PARALLEL} slots) | ${f2(s.loadSeconds)} s |`,
      `| RSS idle / under 8-stream load | ${mib(s.rssIdle)} / ${mib(s.rssLoad)} |`,
      `| prefill, bare (512-token prompt) | ${f1(f.bare.prefill)} tokens/s |`,
      `| TTFT, short chat prompt, p50 / p95 (12 requests) | ${f1(s.ttftP50)} / ${f1(s.ttftP95)} ms |`,
      `| TTFT, ${s.longPromptTokens}-token prompt | ${f1(s.ttftLongPromptMs)} ms |`,
      `| single-stream decode, server / bare (median of 3) | ${f1(s.decode)} / ${f1(f.bare.decode)} tokens/s |`,
      ...CONCURRENCY.map(
        (c) =>
          `| aggregate decode, ${c} concurrent stream${c > 1 ? "s" : ""} (best of 2) | ${f1(s.aggregate[c])} tokens/s |`,
      ),
      `| bare: 1 / 4 sequences batched in one context, no HTTP (best of 2) | ${f1(f.bare.batched[1])} / ${f1(f.bare.batched[4])} tokens/s (×${f2(f.bare.batched[4] / f.bare.batched[1])}) |`,
      `| TTFT, first turn (${s.longPromptTokens}-token document) | ${f1(s.firstTurnTtft)} ms |`,
      `| TTFT, second turn (${s.secondTurnCached} of ${s.secondTurnPrompt} prompt tokens cached) | ${f1(s.secondTurnTtft)} ms |`,
      `| bare: evaluating the second turn's ${f.bare.newTokens} new tokens after the cached prefix | ${f1(f.bare.secondTurnNewMs)} ms |`,
      `| TTFT, response-cache hit | ${f1(s.cacheHitTtft)} ms |`,
      ...(f.lookup
        ? [
            `| copy task (${f.lookup.tokens} tokens), plain / prompt-lookup decoding | ${f1(f.lookup.plain)} / ${f1(f.lookup.lookup)} tokens/s (×${f2(f.lookup.lookup / f.lookup.plain)}) |`,
          ]
        : []),
      "",
      "| target | figure | |",
      "|---|---|---|",
      `| single-stream decode through the server ≥ 0.97 × bare | ${f2(overhead)} × | ${mark(overhead >= 0.97)} |`,
      `| aggregate at 4 streams ≥ 1.4 × single stream | ${f2(scaling)} × | ${mark(scaling >= 1.4)} |`,
      `| second-turn TTFT ≤ 1.3 × prefill of the new tokens alone | ${f2(secondRatio)} × | ${mark(secondRatio <= 1.3)} |`,
      `| response-cache hit TTFT < 10 ms | ${f1(s.cacheHitTtft)} ms | ${mark(s.cacheHitTtft < 10)} |`,
      `| RSS under load ≤ file + KV cache (${mib(kv)}) + 200 MiB = ${mib(rssBudget)} | ${mib(s.rssLoad)} | ${mark(s.rssLoad <= rssBudget)} |`,
      "",
    );
  }
  lines.push(
    "## Notes on the missed targets",
    "",
    "- **Noise.** On a shared 2-core VM a figure can move by up to about 20% between runs (each run keeps its own",
    "  figures; none is picked); a miss by a few percent in one run is within that.",
    "- **Aggregate throughput at 4 streams**, when it misses. Compare the server's 4-stream row with the bare row: llama.cpp itself,",
    "  with four sequences batched in one context and no HTTP at all, reaches about the same total, so the scheduler",
    "  is not losing batches; the limit is batched decode of this model on two cores. The server's single stream is",
    "  also a little faster than the bare single sequence, which lowers the ratio. A custom batch dispatch schedule",
    "  (waiting a few event-loop turns for stragglers) changed nothing measurable.",
    "- **RSS.** llama.cpp repacks quantized weights into the CPU's SIMD layout and keeps compute buffers for a",
    "  512-token batch; the vocabulary (151,936 tokens and 151,387 merges) is held by llama.cpp, and Node itself",
    "  takes about 85 MiB. Reading the file instead of memory-mapping it (now the default) saved about 190 MiB.",
    "- **Prompt-lookup decoding.** The copy task forces the copy with a grammar, because a random-weight model never",
    "  copies. With random weights llama.cpp must filter the whole vocabulary through the grammar on nearly every",
    "  token, which dominates the per-token cost here, so this figure shows the mechanism works end to end but",
    "  says little about the speed-up on a real model that copies of its own accord.",
    "",
    ...extra,
  );
  return `${lines.join("\n")}\n`;
}

/** Runs one of the other bench scripts (they print JSON) in its own process, so its model load is its own. */
async function runScript(script: string, args: string[]): Promise<unknown> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const { stdout } = await execFileAsync(process.execPath, [file, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout);
}

interface TokenRate {
  tokensPerSecond: number;
  parsedAsJson: string;
}

async function constrainedSection(): Promise<string[]> {
  process.stderr.write("\n== constrained decoding (q4_0)\n");
  const r = (await runScript("./constrained.js", [
    await modelFile("q4_0"),
    "--runs",
    "3",
    "--tokens",
    "64",
  ])) as {
    free: TokenRate;
    jsonObject: TokenRate;
    jsonSchema: TokenRate;
    grammarMs: { schemaToGbnf: number; firstCompile: number; cached: number };
  };
  return [
    "## Constrained decoding (structured output), Q4_0",
    "",
    "In-process engine, 3 runs of 64 tokens each, same prompt; the random-weight model only produces valid JSON",
    "because the grammar forces it.",
    "",
    "| mode | tokens/s | parsed as JSON |",
    "|---|---|---|",
    `| free text | ${f1(r.free.tokensPerSecond)} | ${r.free.parsedAsJson} |`,
    `| \`json_object\` | ${f1(r.jsonObject.tokensPerSecond)} | ${r.jsonObject.parsedAsJson} |`,
    `| \`json_schema\` (nested weather schema) | ${f1(r.jsonSchema.tokensPerSecond)} | ${r.jsonSchema.parsedAsJson} |`,
    "",
    `Grammar preparation: schema to GBNF ${f2(r.grammarMs.schemaToGbnf)} ms, first compile ${f2(r.grammarMs.firstCompile)} ms, cached ${f2(r.grammarMs.cached)} ms.`,
    "",
  ];
}

async function routingSection(): Promise<string[]> {
  process.stderr.write("\n== routing overhead\n");
  const r = (await runScript("./routing.js", [])) as {
    results: { label: string; iterations: number; p50_ms: number; p99_ms: number; max_ms: number }[];
    accuracy: {
      threshold: number;
      train_prompts: number;
      holdout_prompts: number;
      cv_folds: number;
      cv_accuracy: number;
      holdout_accuracy: number;
      thresholds: {
        threshold: number;
        cv_accuracy: number;
        holdout_accuracy: number;
        holdout_cloud_share: number;
      }[];
    };
  };
  const a = r.accuracy;
  return [
    "## Routing policy accuracy (no model)",
    "",
    `The learned policy (docs/routing.md) at threshold ${a.threshold}: ${a.cv_folds}-fold cross-validated accuracy ${a.cv_accuracy} on the ${a.train_prompts} training prompts of \`data/routing/\`, ${a.holdout_accuracy} on the ${a.holdout_prompts} held-out prompts.`,
    "",
    "| threshold | CV accuracy (train) | held-out accuracy | held-out share sent to the cloud |",
    "|---|---|---|---|",
    ...a.thresholds.map(
      (t) => `| ${t.threshold} | ${t.cv_accuracy} | ${t.holdout_accuracy} | ${t.holdout_cloud_share} |`,
    ),
    "",
    "## Routing overhead (no model)",
    "",
    "Per request, over the labelled prompts of `data/routing/` plus a long pasted document. Target: routing decision under 1 ms at p99.",
    "",
    "| step | iterations | p50 | p99 | max |",
    "|---|---|---|---|---|",
    ...r.results.map(
      (x) => `| ${x.label} | ${x.iterations} | ${x.p50_ms} ms | ${x.p99_ms} ms | ${x.max_ms} ms |`,
    ),
    "",
  ];
}

async function faqSection(): Promise<string[]> {
  process.stderr.write("\n== FAQ answer cache (q4_0)\n");
  const r = (await runScript("./faq.js", [await modelFile("q4_0")])) as {
    hit: { n: number; p50_ms: number; p99_ms: number; max_ms: number };
    generated: { n: number; p50_ms: number };
  };
  return [
    "## FAQ answer cache, Q4_0",
    "",
    `Time to first token through HTTP with the official client, streamed, temperature 0.8: ${r.hit.n} hits of one`,
    "question asked in four spellings (case, full-width, trailing punctuation), against the same question generated",
    "by the local model (`x-edgellm-cache: bypass`). Target: a hit under 10 ms.",
    "",
    "| | requests | p50 | p99 | max |",
    "|---|---|---|---|---|",
    `| FAQ hit | ${r.hit.n} | ${r.hit.p50_ms} ms | ${r.hit.p99_ms} ms | ${r.hit.max_ms} ms |`,
    `| generated | ${r.generated.n} | ${r.generated.p50_ms} ms | | |`,
    "",
  ];
}

/**
 * llama.cpp's llama-server binary for the peer comparison: LLAMA_SERVER, else the one `serve` would run
 * (--llama-server's variable, the engine cache, the old build script's folder); undefined when none.
 */
async function llamaServerBinary(): Promise<string | undefined> {
  if (process.env.LLAMA_SERVER) {
    const exists = await stat(process.env.LLAMA_SERVER).then(
      () => true,
      () => false,
    );
    if (exists) return process.env.LLAMA_SERVER;
  } else {
    const found = await findLlamaServer().catch(() => undefined);
    if (found) return found.path;
  }
  process.stderr.write(
    "\n(no llama-server: run `edgellm engine build --native` (or scripts/build-llama-server.sh) for the peer comparison)\n",
  );
  return undefined;
}

async function soakBenchSection(): Promise<string[]> {
  process.stderr.write("\n== soak (q4_0)\n");
  return soakSection(await soakFigures(await modelFile("q4_0"), await llamaServerBinary()));
}

async function peerSection(): Promise<string[]> {
  const binary = await llamaServerBinary();
  if (!binary) return [];
  process.stderr.write(
    "\n== engines: edgellm (llama-server), edgellm (in-process), standalone llama-server (q4_0)\n",
  );
  const model = await modelFile("q4_0");
  const contenders = await startContenders(binary, model);
  const [engine, inProcess, standalone] = contenders;
  let single: Awaited<ReturnType<typeof measureAlternating>>;
  const multi = new Map<string, MultiUserFigures[]>();
  try {
    single = await measureAlternating(contenders);
    // The workload runs on one server at a time (it is about concurrency); twice in A-B-A-B order for the two
    // llama.cpp loops, once for the in-process engine, which the issue measured at 2.4x the wall time.
    for (const [round, c] of [engine, standalone, engine, standalone, inProcess].entries()) {
      process.stderr.write(`   multi-user workload on ${c.name}\n`);
      const figures = await multiUser(c, `round ${round}`);
      multi.set(c.name, [...(multi.get(c.name) ?? []), figures]);
    }
  } finally {
    for (const c of contenders) await c.stop();
  }
  const best = (name: string): MultiUserFigures =>
    (multi.get(name) ?? []).reduce((a, b) => (b.wallSeconds < a.wallSeconds ? b : a));
  const e = { ...single.get(engine.name), multi: best(engine.name) } as EngineRow;
  const i = { ...single.get(inProcess.name), multi: best(inProcess.name) } as EngineRow;
  const l = { ...single.get(standalone.name), multi: best(standalone.name) } as EngineRow;
  /** A target: the engine / standalone ratio, at least (higher is better) or at most `bound`. */
  const target = (label: string, pick: (r: EngineRow) => number, bound: number, atLeast: boolean) => {
    const ratio = pick(e) / pick(l);
    const met = atLeast ? ratio >= bound : ratio <= bound;
    return `- ${label}: ${ratio.toFixed(3)} (target ${atLeast ? ">=" : "<="} ${bound.toFixed(2)}): ${met ? "met" : "missed"}`;
  };
  const targets = [
    target("single-stream decode", (r) => r.decode, 0.97, true),
    target("4-stream aggregate, best", (r) => r.aggregate4, 0.97, true),
    target("4-stream aggregate, median", (r) => r.aggregate4Median, 0.97, true),
    target("TTFT, short chat prompt", (r) => r.ttftP50, 1.1, false),
    target("multi-user TTFT p50", (r) => r.multi.ttftP50, 1, false),
    target("multi-user TTFT p95", (r) => r.multi.ttftP95, 1, false),
    target("multi-user wall time", (r) => r.multi.wallSeconds, 1, false),
  ];
  const row = (label: string, pick: (r: EngineRow) => number, unit: string, digits = 1) =>
    `| ${label} | ${pick(e).toFixed(digits)} ${unit} | ${pick(i).toFixed(digits)} ${unit} | ${pick(l).toFixed(digits)} ${unit} | ${f2(pick(e) / pick(l))} | ${f2(pick(i) / pick(l))} |`;
  return [
    "## Engines against llama-server, Q4_0",
    "",
    "edgellm with its llama-server engine (llama.cpp's server as a managed child), edgellm with its in-process engine",
    "(node-llama-cpp), and standalone llama-server (the peer), all on the same file with 4 slots of 2048 tokens,",
    `default threads, the same llama-server binary (${binaryNote(binary)}), through the`,
    "same `openai` client. Requests go to the three servers in turn, cycling through every order of them (so each",
    "comes after each other one equally often), every prompt is unique, and",
    "edgellm's response cache is off, so every answer is generated. The multi-user workload: 8 users, each with a",
    "~500-token document of their own in the system prompt, 3 turns each, 4 users active at once, 48-token answers;",
    "TTFT of turns 2 and 3. It runs on one server at a time, the two llama.cpp loops twice each (best wall time",
    "kept).",
    "",
    "| measure | edgellm, llama-server engine | edgellm, in-process | llama-server | engine / llama-server | in-process / llama-server |",
    "|---|---|---|---|---|---|",
    row(`TTFT, short chat prompt, p50 of ${TTFT_REQUESTS} (lower is better)`, (r) => r.ttftP50, "ms"),
    row(`single-stream decode (median of ${DECODE_REQUESTS})`, (r) => r.decode, "tokens/s"),
    row(`aggregate decode, 4 streams (best of ${AGGREGATE_ROUNDS})`, (r) => r.aggregate4, "tokens/s"),
    row(`aggregate decode, 4 streams (median of ${AGGREGATE_ROUNDS})`, (r) => r.aggregate4Median, "tokens/s"),
    row("RSS under 4-stream load, with children (lower is better)", (r) => r.rssLoad / 1024 / 1024, "MiB", 0),
    row("multi-user: TTFT p50, turns 2-3 (lower is better)", (r) => r.multi.ttftP50, "ms", 0),
    row("multi-user: TTFT p95, turns 2-3 (lower is better)", (r) => r.multi.ttftP95, "ms", 0),
    row("multi-user: TTFT p50, first turns (lower is better)", (r) => r.multi.firstTtftP50, "ms", 0),
    row("multi-user: wall time (lower is better)", (r) => r.multi.wallSeconds, "s"),
    row(
      "multi-user: prompt tokens of turns 2-3 served from a cache",
      (r) => 100 * r.multi.cachedShare,
      "%",
      0,
    ),
    "",
    "Targets (issue #12), engine / standalone llama-server in this run:",
    ...targets,
    "",
    "What limits them:",
    "- The engine and standalone llama-server are the same binary, so decode, TTFT and the multi-user workload land",
    "  within this VM's run-to-run noise of each other: a target missed by a few percent in one run is within it.",
    "  Requests go to the servers in turn, so drift in the machine hits all alike.",
    "- TTFT of a short prompt is bimodal on every server here (40-50 ms or 115-135 ms per request), and the mode",
    "  depends on what ran just before: whichever server came right after the in-process engine read 40-50 ms on",
    "  nearly every request, the others 115-135, and they swapped when the order was reversed (2026-11-24; the",
    "  likely reason, not tested, is that the in-process engine's threads leave this VM's two virtual CPUs awake).",
    "  Runs before 2026-11-24 07:50 used a fixed order with standalone llama-server right after the in-process",
    "  engine, and read TTFT ratios of 1.67 and 2.54 from it; the loops now cycle through every order.",
    "- 4-stream aggregate: edgellm's own process reads every token from the child and writes it to the client, and",
    "  that costs llama.cpp's two compute threads, which fill both cores, some of their time. Measured on 2026-11-24:",
    "  edgellm's process used 0.18-0.30 CPU-seconds per 4-stream round of about 3.5 s (5-8% of one core; in a CPU",
    "  profile 35% of it is the `writev` of each token to the client socket), and a process burning 7% of one core",
    "  in 1-ms slices beside standalone llama-server took 6-8% off its 4-stream aggregate (two runs of six rounds):",
    "  a compute thread that loses its core stalls the other at llama.cpp's barrier. Running edgellm at nice 10 did",
    "  not change the engine's figure.",
    "- Earlier runs read the engine's 4-stream aggregate 15% low: the bench listed edgellm's processes with a",
    "  synchronous `pgrep` every 50 ms while sampling RSS (121-130 against 140-151 tokens/s in alternating rounds),",
    "  which standalone llama-server, a single process, did not pay. The list is now made once per sampling window.",
    "- Single-stream decode went from 35-36 tokens/s to 76-77 on both when the AMX module that crashes on this VM",
    "  (SIGILL) was replaced by node-llama-cpp's prebuilt one (the binary line above says which build runs).",
    "- RSS: edgellm with the engine holds the vocabulary (and its tokenizer worker) in its own process beside the child.",
    "",
  ];
}

type EngineRow = Omit<EngineFigures, "multiUser"> & { multi: MultiUserFigures };

/** Which build the peer comparison ran, and whether ggml could pick its AMX CPU module. */
function binaryNote(binary: string): string {
  const folder = path.basename(path.dirname(binary));
  const modules = readdirSync(path.dirname(binary)).filter((f) => /ggml-cpu-.+\.(so|dll)$/.test(f));
  if (modules.length === 0) return `\`${folder}\`: one CPU backend built for this CPU, no AMX`;
  const amx = modules.some((f) => f.includes("sapphirerapids"));
  return `\`${folder}\`: ${modules.length} CPU variant modules, ${amx ? "AMX among them" : "no AMX"}`;
}

const figures: ModelFigures[] = [];
for (const type of TYPES) figures.push(await benchModel(type));
const extra = [
  ...(await peerSection()),
  ...(await soakBenchSection()),
  ...(await constrainedSection()),
  ...(await routingSection()),
  ...(await faqSection()),
];
const markdown = report(figures, extra);
const out = path.resolve(process.cwd(), "docs/benchmarks.md");
await writeFile(out, markdown);
process.stdout.write(markdown);
process.stderr.write(`wrote ${out}\n`);
