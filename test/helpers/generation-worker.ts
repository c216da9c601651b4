import { parentPort, workerData } from "node:worker_threads";
import { LocalEngine } from "../../src/engine/local-engine.js";
import { DEFAULT_SAMPLING, type GenerateRequest, type JsonSchema } from "../../src/provider/types.js";

/**
 * Runs generations on its own LocalEngine (one thread) and posts the results: lets a test spread
 * grammar-constrained generations, whose cost is mostly per-token grammar checks, over the cores.
 */
export interface GenerationJob {
  schema: JsonSchema;
  seed: number;
  grammar: boolean;
  maxTokens: number;
}

export interface GenerationResult {
  job: GenerationJob;
  text: string;
  finishReason: string;
  tokens: number;
}

const { modelPath, jobs } = workerData as { modelPath: string; jobs: GenerationJob[] };
const engine = await LocalEngine.load({ modelPath, threads: 1, contextSize: 1024, parallel: 1 });
const results: GenerationResult[] = [];
for (const job of jobs) {
  const prompt: GenerateRequest["prompt"] = {
    kind: "chat",
    messages: [{ role: "user", content: `Answer in JSON matching ${JSON.stringify(job.schema)}. 你好 😀` }],
  };
  const controls = {
    prompt,
    format: job.grammar ? ({ kind: "json_schema", name: "test", schema: job.schema } as const) : undefined,
  };
  const sampling = { ...DEFAULT_SAMPLING, temperature: 1, seed: job.seed, maxTokens: job.maxTokens };
  let text = "";
  let finishReason = "";
  let tokens = 0;
  const signal = new AbortController().signal;
  for await (const event of engine.generate(0, await engine.tokenize(prompt), sampling, signal, controls)) {
    if (event.type === "text") text += event.text;
    else if (event.type === "done") {
      finishReason = event.finishReason;
      tokens = event.completionTokens;
    }
  }
  results.push({ job, text, finishReason, tokens });
}
await engine.dispose();
parentPort?.postMessage(results);
