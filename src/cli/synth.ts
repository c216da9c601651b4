/** `edgellm synth`: write a synthetic Qwen2.5-shaped chat model or Qwen3-Reranker-shaped reranker (random weights, real tokenizer). */
import { Command, InvalidArgumentError, Option } from "commander";
import { type SynthKind, type SynthShape, type SynthType, synthesizeModel } from "../models/synth.js";

interface SynthCliOptions {
  kind: SynthKind;
  shape: SynthShape;
  type: SynthType;
  out: string;
  seed: number;
}

function parseSeed(value: string): number {
  const seed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(seed) || seed > 0xffffffff) {
    throw new InvalidArgumentError("Expected an integer from 0 to 4294967295.");
  }
  return seed;
}

export function synthCommand(): Command {
  return new Command("synth")
    .description(
      "Write a GGUF with Qwen2.5's exact architecture, tokenizer and chat template (or Qwen3-Reranker's, with " +
        "--kind reranker) but seeded random weights (for tests and benchmarks where the real weights cannot be " +
        "downloaded; its output is noise).",
    )
    .addOption(
      new Option("--kind <kind>", "chat (Qwen2.5-Instruct) or reranker (Qwen3-Reranker, for --rerank-model)")
        .choices(["chat", "reranker"])
        .default("chat"),
    )
    .addOption(
      new Option(
        "--shape <shape>",
        "tiny (2 layers, for tests), 0.5b (chat: Qwen2.5-0.5B's dimensions) or 0.6b (reranker: Qwen3-Reranker-0.6B's)",
      )
        .choices(["tiny", "0.5b", "0.6b"])
        .makeOptionMandatory(),
    )
    .addOption(
      new Option("--type <type>", "type of the weight matrices")
        .choices(["f16", "q8_0", "q4_0"])
        .makeOptionMandatory(),
    )
    .addOption(new Option("--out <file>", "output .gguf path").makeOptionMandatory())
    .addOption(new Option("--seed <n>", "PRNG seed; same seed, same bytes").argParser(parseSeed).default(42))
    .action(async (opts: SynthCliOptions, command: Command) => {
      const started = performance.now();
      // A shape the kind does not have (--kind reranker --shape 0.5b) is a usage error, said as one.
      const result = await synthesizeModel(opts).catch((error: unknown) =>
        error instanceof TypeError ? command.error(`error: ${error.message}`) : Promise.reject(error),
      );
      const seconds = (performance.now() - started) / 1000;
      const mib = result.bytes / 2 ** 20;
      process.stdout.write(
        `${result.path}\n` +
          `  ${mib.toFixed(1)} MiB (${result.bytes} bytes), ${result.params.toLocaleString("en-US")} parameters, ` +
          `${opts.kind} ${opts.shape} ${opts.type} seed ${opts.seed}, written in ${seconds.toFixed(1)} s\n`,
      );
    });
}
