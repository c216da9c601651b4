/** `edgellm synth`: write a synthetic Qwen2.5-shaped GGUF (random weights, real tokenizer). */
import { Command, InvalidArgumentError, Option } from "commander";
import { type SynthShape, type SynthType, synthesizeModel } from "../models/synth.js";

interface SynthCliOptions {
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
      "Write a GGUF with Qwen2.5's exact architecture, tokenizer and chat template but seeded random weights " +
        "(for tests and benchmarks where the real weights cannot be downloaded; its output is noise).",
    )
    .addOption(
      new Option("--shape <shape>", "tiny (2 layers, for tests) or 0.5b (Qwen2.5-0.5B's dimensions)")
        .choices(["tiny", "0.5b"])
        .makeOptionMandatory(),
    )
    .addOption(
      new Option("--type <type>", "type of the weight matrices")
        .choices(["f16", "q8_0", "q4_0"])
        .makeOptionMandatory(),
    )
    .addOption(new Option("--out <file>", "output .gguf path").makeOptionMandatory())
    .addOption(new Option("--seed <n>", "PRNG seed; same seed, same bytes").argParser(parseSeed).default(42))
    .action(async (opts: SynthCliOptions) => {
      const started = performance.now();
      const result = await synthesizeModel(opts);
      const seconds = (performance.now() - started) / 1000;
      const mib = result.bytes / 2 ** 20;
      process.stdout.write(
        `${result.path}\n` +
          `  ${mib.toFixed(1)} MiB (${result.bytes} bytes), ${result.params.toLocaleString("en-US")} parameters, ` +
          `${opts.shape} ${opts.type} seed ${opts.seed}, written in ${seconds.toFixed(1)} s\n`,
      );
    });
}
