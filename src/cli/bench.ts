import { Command } from "commander";

/** `edgellm bench`: the benchmark suite of `npm run bench` (bench/run.ts), writing docs/benchmarks.md. */
export function benchCommand(): Command {
  return new Command("bench")
    .description("Measure speed and memory on the 0.5B-shape synthetic model; writes docs/benchmarks.md")
    .option("--types <list>", "weight types to measure, comma-separated (q4_0, q8_0, f16)", "q4_0,q8_0")
    .action(async (flags: { types: string }) => {
      process.env.BENCH_TYPES = flags.types;
      // Resolved at run time: bench/ is compiled beside src/ in dist/.
      await import(new URL("../../bench/run.js", import.meta.url).href);
    });
}
