import { Command, Option } from "commander";
import { DEFAULT_MODEL, ensureModel, MODEL_SOURCES, type ModelSource } from "../models/registry.js";
import { startEdgeServer } from "../server.js";
import { intOption } from "./options.js";
import { progressReporter } from "./progress.js";

interface ServeFlags {
  model: string;
  host: string;
  port: number;
  ctxSize: number;
  threads?: number;
  parallel: number;
  maxQueue: number;
  queueTimeout: number;
  cacheSize: number;
  responseCache: boolean;
  lookupDecoding: boolean;
  source?: ModelSource;
  logLevel: string;
}

export function serveCommand(): Command {
  return new Command("serve")
    .description("Serve a model behind an OpenAI-compatible HTTP API")
    .option(
      "-m, --model <model>",
      "a GGUF file (./file.gguf) or a model ref (name[:quant], hf:owner/repo/file.gguf); downloaded if missing",
      process.env.EDGELLM_MODEL ?? DEFAULT_MODEL,
    )
    .option("--host <host>", "interface to bind", process.env.EDGELLM_HOST ?? "127.0.0.1")
    .option(
      "--port <port>",
      "TCP port (0 picks a free one)",
      intOption(0, 65535),
      Number(process.env.EDGELLM_PORT ?? 8080),
    )
    .option("-c, --ctx-size <tokens>", "context window per slot, in tokens", intOption(64), 4096)
    .option("-t, --threads <n>", "CPU threads for evaluation (default: every core)", intOption(1))
    .option("-P, --parallel <n>", "parallel slots, decoded together in one batch", intOption(1, 64), 4)
    .option("--max-queue <n>", "requests allowed to wait for a slot before 429", intOption(0), 64)
    .option("--queue-timeout <seconds>", "longest wait for a slot before 503 (0: forever)", intOption(0), 120)
    .option("--cache-size <MiB>", "memory for the response cache of deterministic requests", intOption(0), 64)
    .option("--no-response-cache", "turn the response cache off")
    .option(
      "--lookup-decoding",
      "speculative decoding by prompt lookup (helps answers that copy their input)",
      false,
    )
    .addOption(
      new Option(
        "--source <source>",
        "hub for downloads (default: EDGELLM_MODEL_SOURCE or huggingface)",
      ).choices(MODEL_SOURCES),
    )
    .option("--log-level <level>", "HTTP log level (fatal, error, warn, info, debug, silent)", "info")
    .action(async (flags: ServeFlags) => {
      const server = await startEdgeServer({
        host: flags.host,
        port: flags.port,
        contextSize: flags.ctxSize,
        threads: flags.threads,
        parallel: flags.parallel,
        maxQueue: flags.maxQueue,
        queueTimeoutMs: flags.queueTimeout * 1000,
        responseCacheBytes: flags.responseCache ? flags.cacheSize * 1024 * 1024 : 0,
        lookupDecoding: flags.lookupDecoding,
        logLevel: flags.logLevel === "silent" ? false : flags.logLevel,
        modelPath: async () => {
          const reporter = progressReporter();
          try {
            return await ensureModel(flags.model, { source: flags.source, onProgress: reporter.update });
          } finally {
            reporter.stop();
          }
        },
      });
      // This line is what scripts and tests wait for; keep its shape.
      process.stdout.write(`edgellm listening on ${server.url} (loading ${flags.model})\n`);
      const shutdown = async () => {
        await server.close();
        process.exit(0);
      };
      process.once("SIGINT", shutdown);
      process.once("SIGTERM", shutdown);
      try {
        await server.ready;
      } catch (error) {
        process.stderr.write(`edgellm: ${error instanceof Error ? error.message : String(error)}\n`);
        await server.app.close();
        process.exit(1);
      }
      process.stdout.write(`edgellm ready: ${server.scheduler.listModels()[0].id} on ${server.url}/v1\n`);
    });
}
