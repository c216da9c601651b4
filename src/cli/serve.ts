import { constants, hostname } from "node:os";
import { Command, Option } from "commander";
import { accessUrls } from "../api/security/access-key.js";
import type { AccessInfo } from "../api/security/config.js";
import { DEFAULT_MODEL, ensureModel, MODEL_SOURCES, type ModelSource } from "../models/registry.js";
import { ConfigError, describeRouting, loadRoutingConfig, type RoutingConfig } from "../router/config.js";
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
  bodyTimeout: number;
  cacheSize: number;
  responseCache: boolean;
  lookupDecoding: boolean;
  mmap: boolean;
  source?: ModelSource;
  logLevel: string;
  config?: string;
  upstream: string[];
  cloud: boolean;
  upstreamConnectTimeout?: string;
  upstreamFirstByteTimeout?: string;
  upstreamIdleTimeout?: string;
  shutdownGrace: number;
  apiKey: string[];
  apiKeyFile?: string;
  auth: boolean;
  corsOrigins: string[];
  allowedHosts: string[];
  keyRpm: number;
  keyTpd: number;
}

/** Commander parser for a repeatable, comma-separated list (a flag given twice, or one variable). */
const list = (value: string, previous: string[]) => [
  ...previous,
  ...value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
];

/** Time the process may take, past the grace period, to end what is left and dispose the model. */
const DISPOSE_BUDGET_MS = 1500;

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
    .option(
      "--body-timeout <seconds>",
      "longest wait for a request's headers and body before 408 (0: forever); answers are never cut",
      intOption(0),
      30,
    )
    .option("--cache-size <MiB>", "memory for the response cache of deterministic requests", intOption(0), 64)
    .option("--no-response-cache", "turn the response cache off")
    .option(
      "--lookup-decoding",
      "speculative decoding by prompt lookup (helps answers that copy their input)",
      false,
    )
    .option(
      "--mmap",
      "memory-map the model file instead of reading it (reading uses less memory once weights are repacked)",
      false,
    )
    .addOption(
      new Option(
        "--source <source>",
        "hub for downloads (default: EDGELLM_MODEL_SOURCE or huggingface)",
      ).choices(MODEL_SOURCES),
    )
    .option("--log-level <level>", "HTTP log level (fatal, error, warn, info, debug, silent)", "info")
    .option(
      "--config <file>",
      "JSON routing config: upstreams, policy, budget (docs/routing.md)",
      process.env.EDGELLM_CONFIG,
    )
    .option(
      "--upstream <name=url[,url...]>",
      "an OpenAI-compatible upstream for `model: name` and `auto`; key in EDGELLM_UPSTREAM_<NAME>_API_KEY (repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--no-cloud", "never send a request to an upstream")
    .option(
      "--upstream-connect-timeout <seconds>",
      "longest wait for a connection to an upstream (default: EDGELLM_UPSTREAM_CONNECT_TIMEOUT or 3)",
    )
    .option(
      "--upstream-first-byte-timeout <seconds>",
      "longest wait for an upstream's first token before falling back to local (default: EDGELLM_UPSTREAM_FIRST_BYTE_TIMEOUT or 10)",
    )
    .option(
      "--upstream-idle-timeout <seconds>",
      "longest silence of an upstream mid-answer before the stream ends with an error (default: EDGELLM_UPSTREAM_IDLE_TIMEOUT or 30)",
    )
    .addOption(
      new Option(
        "--shutdown-grace <seconds>",
        "on SIGTERM/SIGINT, how long requests in flight may finish before they are cut short",
      )
        .env("EDGELLM_SHUTDOWN_GRACE")
        // A day is plenty, and keeps the timer below setTimeout's limit of 24.8 days.
        .argParser(intOption(0, 86_400))
        .default(10),
    )
    .addOption(
      new Option(
        "--api-key <key[,key...]>",
        "an API key clients must send (Authorization: Bearer KEY); repeatable. Visible to `ps`: prefer the file",
      )
        .env("EDGELLM_API_KEY")
        .argParser(list)
        .default([]),
    )
    .addOption(
      new Option(
        "--api-key-file <file>",
        "API keys, one a line: [LABEL:] KEY [rpm=N] [tpd=N]; # comments",
      ).env("EDGELLM_API_KEY_FILE"),
    )
    .option("--no-auth", "serve a non-loopback --host without any API key (anyone who reaches it may use it)")
    .addOption(
      new Option(
        "--cors-origins <origin[,origin...]>",
        "web pages (scheme://host[:port], *.domain and :* allowed; '*' for any) that may call the API besides its own and localhost",
      )
        .env("EDGELLM_CORS_ORIGINS")
        .argParser(list)
        .default([]),
    )
    .addOption(
      new Option(
        "--allowed-hosts <host[,host...]>",
        "Host names answered besides localhost and loopback addresses (.domain for subdomains; '*' for any)",
      )
        .env("EDGELLM_ALLOWED_HOSTS")
        .argParser(list)
        .default([]),
    )
    .addOption(
      new Option("--key-rpm <n>", "generation requests per API key per minute (0: no limit)")
        .env("EDGELLM_KEY_RPM")
        .argParser(intOption(0))
        .default(0),
    )
    .addOption(
      new Option("--key-tpd <n>", "prompt + completion tokens per API key per day (0: no limit)")
        .env("EDGELLM_KEY_TPD")
        .argParser(intOption(0))
        .default(0),
    )
    .action(async (flags: ServeFlags) => {
      let routing: RoutingConfig;
      try {
        routing = await loadRoutingConfig({
          file: flags.config,
          upstreams: flags.upstream,
          cloud: flags.cloud,
          timeouts: {
            connect: flags.upstreamConnectTimeout,
            firstByte: flags.upstreamFirstByteTimeout,
            idle: flags.upstreamIdleTimeout,
          },
          env: process.env,
        });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        process.stderr.write(`edgellm: ${error.message}\n`);
        process.exit(2);
      }
      let server: Awaited<ReturnType<typeof startEdgeServer>>;
      try {
        server = await startEdgeServer({
          routing,
          security: {
            apiKeys: flags.apiKey,
            apiKeyFile: flags.apiKeyFile,
            noAuth: !flags.auth,
            corsOrigins: flags.corsOrigins,
            allowedHosts: flags.allowedHosts,
            keyRpm: flags.keyRpm,
            keyTpd: flags.keyTpd,
          },
          host: flags.host,
          port: flags.port,
          contextSize: flags.ctxSize,
          threads: flags.threads,
          parallel: flags.parallel,
          maxQueue: flags.maxQueue,
          queueTimeoutMs: flags.queueTimeout * 1000,
          bodyTimeoutMs: flags.bodyTimeout * 1000,
          responseCacheBytes: flags.responseCache ? flags.cacheSize * 1024 * 1024 : 0,
          lookupDecoding: flags.lookupDecoding,
          mmap: flags.mmap,
          shutdownGraceMs: flags.shutdownGrace * 1000,
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
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        process.stderr.write(`edgellm: ${error.message}\n`);
        process.exit(2);
      }
      // This line is what scripts and tests wait for; keep its shape.
      process.stdout.write(`edgellm listening on ${server.url} (loading ${flags.model})\n`);
      reportAccess(server.url, server.access);
      let stopping = false;
      const shutdown = (signal: NodeJS.Signals) => {
        if (stopping) {
          // A second signal means now: exit as a shell reports a process the signal killed (130, 143).
          process.stderr.write(`edgellm: ${signal} again: exiting now\n`);
          process.exit(128 + constants.signals[signal]);
        }
        stopping = true;
        if (server.scheduler.state === "loading") {
          // Nothing is served yet, and a download or load cannot be cancelled midway: no drain to wait for.
          process.stdout.write(`edgellm: ${signal} while loading: exiting\n`);
          process.exit(0);
        }
        process.stdout.write(
          `edgellm: ${signal}: shutting down; requests in flight have ${flags.shutdownGrace} s to finish ` +
            `(${signal} again exits at once)\n`,
        );
        // A generation that does not heed its abort in time (say, a long prompt still evaluating) must not
        // hold the process past what an orchestrator was promised.
        setTimeout(
          () => {
            process.stderr.write("edgellm: shutdown did not finish in time; exiting\n");
            process.exit(1);
          },
          flags.shutdownGrace * 1000 + DISPOSE_BUDGET_MS,
        );
        server.close().then(
          () => {
            process.stdout.write("edgellm: stopped\n");
            process.exit(0);
          },
          (error: unknown) => {
            process.stderr.write(
              `edgellm: shutdown failed: ${error instanceof Error ? error.message : error}\n`,
            );
            process.exit(1);
          },
        );
      };
      process.on("SIGINT", shutdown);
      process.on("SIGTERM", shutdown);
      try {
        await server.ready;
      } catch (error) {
        process.stderr.write(`edgellm: ${error instanceof Error ? error.message : String(error)}\n`);
        await server.app.close();
        process.exit(1);
      }
      process.stdout.write(
        `edgellm ready: ${server.scheduler.listModels()[0].id} on ${server.url}/v1 (engine: ${server.engine})\n`,
      );
      if (routing.upstreams.length > 0 || !routing.cloud)
        process.stdout.write(`edgellm ${describeRouting(routing)}\n`);
    });
}

/** Says who may use the API. The generated key is printed here once, in the access URL; no other key ever is. */
function reportAccess(url: string, access: AccessInfo): void {
  const { generated } = access;
  if (generated) {
    const [primary, local] = accessUrls(url, generated.key, hostname());
    process.stdout.write(`edgellm access URL (it holds the API key; keep it private): ${primary}\n`);
    if (local) process.stdout.write(`edgellm access URL on this machine: ${local}\n`);
    process.stdout.write(
      `edgellm API key ${generated.created ? "generated and stored in" : "read from"} ${generated.file}; ` +
        "API clients send it as `Authorization: Bearer KEY`\n",
    );
    if (generated.warning) process.stderr.write(`edgellm: warning: ${generated.warning}\n`);
  } else if (access.keyLabels.length > 0) {
    process.stdout.write(`edgellm API keys required: ${access.keyLabels.join(", ")}\n`);
  }
  if (access.openToNetwork)
    process.stderr.write(
      `edgellm: warning: --no-auth: the API at ${url} is open to anyone who can reach it, with no key\n`,
    );
}
