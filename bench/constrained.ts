import { grammarFor } from "../src/engine/grammar.js";
import { LocalEngine } from "../src/engine/local-engine.js";
import { DEFAULT_SAMPLING, type GenerateRequest, type JsonSchema } from "../src/provider/types.js";

/**
 * Tokens/s with and without a JSON schema grammar on one model:
 *   node dist/bench/constrained.js <model.gguf> [--runs N] [--tokens N] [--threads N]
 * Prints one JSON object. Grammar cost is mostly paid when the sampled token breaks the grammar and the
 * whole vocabulary is filtered: rare with a trained model, nearly every token with random weights, so
 * synthetic models show the worst case.
 */

const SCHEMA: JsonSchema = {
  type: "object",
  properties: {
    city: { type: "string", maxLength: 24 },
    temperature: { type: "number", minimum: -60, maximum: 60 },
    conditions: { enum: ["sunny", "cloudy", "rain", "snow"] },
    hourly: {
      type: "array",
      items: { type: "integer", minimum: -60, maximum: 60 },
      minItems: 1,
      maxItems: 8,
    },
  },
  required: ["city", "temperature", "conditions", "hourly"],
};

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

async function main(): Promise<void> {
  const modelPath = process.argv[2];
  if (!modelPath || modelPath.startsWith("--")) {
    process.stderr.write("usage: constrained.js <model.gguf> [--runs N] [--tokens N] [--threads N]\n");
    process.exitCode = 2;
    return;
  }
  const runs = argument("runs", 3);
  const maxTokens = argument("tokens", 64);
  const threads = argument("threads", 0) || undefined;
  const engine = await LocalEngine.load({ modelPath, threads, contextSize: 2048, parallel: 1 });
  const prompt: GenerateRequest["prompt"] = {
    kind: "chat",
    messages: [
      { role: "user", content: "北京今天的天气, as JSON with city, temperature, conditions and hourly." },
    ],
  };
  const tokens = await engine.tokenize(prompt);

  const measure = async (format: GenerateRequest["format"]) => {
    let generated = 0;
    let seconds = 0;
    let valid = 0;
    for (let run = 0; run < runs; run++) {
      const sampling = { ...DEFAULT_SAMPLING, seed: 100 + run, maxTokens, ignoreEos: format === undefined };
      let text = "";
      const start = performance.now();
      const events = engine.generate(0, tokens, sampling, new AbortController().signal, { prompt, format });
      for await (const event of events) {
        if (event.type === "text") text += event.text;
        else if (event.type === "done") generated += event.completionTokens;
      }
      seconds += (performance.now() - start) / 1000;
      try {
        JSON.parse(text);
        valid++;
      } catch {}
    }
    return {
      tokens: generated,
      tokensPerSecond: round(generated / seconds),
      parsedAsJson: `${valid}/${runs}`,
    };
  };

  const conversionStart = performance.now();
  grammarFor({ prompt, format: { kind: "json_schema", name: "weather", schema: SCHEMA } });
  const conversionMs = performance.now() - conversionStart;
  const compileStart = performance.now();
  await engine.grammars.forRequest({
    prompt,
    format: { kind: "json_schema", name: "weather", schema: SCHEMA },
  });
  const compileMs = performance.now() - compileStart;
  const cachedStart = performance.now();
  await engine.grammars.forRequest({
    prompt,
    format: { kind: "json_schema", name: "weather", schema: SCHEMA },
  });
  const cachedMs = performance.now() - cachedStart;

  // Warm-up: the prompt is evaluated once here, so every measured run reuses it from the KV cache.
  await measure(undefined);
  const free = await measure(undefined);
  const json = await measure({ kind: "json" });
  const schema = await measure({ kind: "json_schema", name: "weather", schema: SCHEMA });
  await engine.dispose();
  const result = {
    model: modelPath,
    runs,
    maxTokens,
    free,
    jsonObject: json,
    jsonSchema: schema,
    schemaSlowdown: round(free.tokensPerSecond / schema.tokensPerSecond),
    grammarMs: { schemaToGbnf: round(conversionMs), firstCompile: round(compileMs), cached: round(cachedMs) },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

await main();
