import { constants, hostname } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { accessUrls } from "../api/security/access-key.js";
import type { AccessInfo } from "../api/security/config.js";
import { upstreamVariables } from "../config/resolve.js";
import { ConfigError } from "../config/setting.js";
import { SETTINGS, type SettingName } from "../config/settings.js";
import { STATE_FILE_OFF } from "../config/state-settings.js";
import { ensureLlamaServer } from "../engine/binary/ensure.js";
import { edgellmHome, ensureModel } from "../models/registry.js";
import {
  describeRouting,
  loadRoutingConfig,
  type RoutingConfig,
  type RoutingSettings,
} from "../router/config.js";
import { describeShutdown, startEdgeServer } from "../server.js";
import { progressReporter } from "./progress.js";
import {
  addEnvironmentHelp,
  addSettingOptions,
  commandSettings,
  exitWithUsageError,
  hubOptions,
} from "./setting-options.js";

/** Every setting but those of other commands. */
const SERVE: readonly SettingName[] = (Object.keys(SETTINGS) as SettingName[]).filter(
  (n) => n !== "openaiApiKey",
);
const ROUTING = [
  "cloud",
  "defaultModel",
  "routeThreshold",
  "cascade",
  "redact",
  "cloudDailyBudget",
  "upstreamConnectTimeout",
  "upstreamFirstByteTimeout",
  "upstreamIdleTimeout",
  "modelAlias",
] as const satisfies readonly (keyof RoutingSettings)[];

/**
 * Time the process may take, past the grace period, to end what is left and dispose the model. Stopping the
 * llama-server child (0.3-0.4 s), terminating the tokenizer worker (0.85 s) and disposing the vocabulary
 * (0.27 s) took over 1.5 s on a 2-core VM under a load average of 15-21, and 5 s ran out once in a full test
 * run (2026-11-24); 10 s leaves room for a loaded machine and stays inside Kubernetes' default 30 s
 * termination grace with the default 10 s drain.
 */
const DISPOSE_BUDGET_MS = 10_000;

export function serveCommand(): Command {
  const command = new Command("serve").description("Serve a model behind an OpenAI-compatible HTTP API");
  addSettingOptions(command, SERVE);
  addEnvironmentHelp(command, SERVE);
  return command.action(async (_options: unknown, self: Command) => {
    // Every flag and variable is checked here, before the port opens or a download starts.
    const { values: flags, given } = commandSettings(self, SERVE);
    let routing: RoutingConfig;
    try {
      routing = await loadRoutingConfig({
        file: flags.config,
        upstreams: flags.upstream,
        settings: Object.fromEntries(ROUTING.filter((n) => n in given).map((n) => [n, given[n]])),
        env: upstreamVariables(),
      });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      exitWithUsageError(error);
    }
    /** A model ref or file, resolved (and downloaded if missing) when the server asks for it. */
    const ensure = (ref: string) => async () => {
      const reporter = progressReporter();
      try {
        return await ensureModel(ref, { ...hubOptions(flags), onProgress: reporter.update });
      } finally {
        reporter.stop();
      }
    };
    let server: Awaited<ReturnType<typeof startEdgeServer>>;
    try {
      server = await startEdgeServer({
        routing,
        security: {
          apiKeys: flags.apiKey,
          apiKeyFile: flags.apiKeyFile,
          home: flags.home,
          noAuth: !flags.auth,
          corsOrigins: flags.corsOrigins,
          publicMetrics: flags.publicMetrics,
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
        contextOverflow: flags.contextOverflow,
        historyBudget: flags.historyBudget,
        queueTimeoutMs: flags.queueTimeout * 1000,
        bodyTimeoutMs: flags.bodyTimeout * 1000,
        responseCacheBytes: flags.responseCache ? flags.cacheSize * 1024 * 1024 : 0,
        stateFile:
          flags.stateFile === STATE_FILE_OFF
            ? undefined
            : (flags.stateFile ?? join(flags.home ?? edgellmHome(), "state.sqlite")),
        knowledge: {
          maxFileBytes: flags.kbMaxFileSize * 1024 * 1024,
          rerankCandidates: flags.rerankCandidates,
          maxStorageBytes: flags.kbMaxStorage * 1024 * 1024,
        },
        faq: {
          enabled: flags.faqCache,
          ttlMs: flags.faqTtl * 1000,
          maxBytes: flags.faqCacheSize * 1024 * 1024,
          cacheCloud: flags.faqCacheCloud,
        },
        lookupDecoding: flags.lookupDecoding,
        mmap: flags.mmap,
        engine: flags.engine,
        findLlamaServer: async () => {
          const reporter = progressReporter();
          try {
            return await ensureLlamaServer({
              path: flags.llamaServer,
              // Fetched like the model, unless offline; the settings were read already, so no environment here.
              allowDownload: !flags.offline,
              env: { EDGELLM_LLAMA_RELEASES_URL: flags.llamaReleases },
              home: flags.home,
              connectTimeoutMs: flags.hubConnectTimeout,
              log: (line) => process.stderr.write(`edgellm: ${line}\n`),
              onProgress: reporter.update,
            });
          } finally {
            reporter.stop();
          }
        },
        promptCacheMiB: flags.promptCacheRam,
        shutdownGraceMs: flags.shutdownGrace * 1000,
        logLevel: flags.logLevel === "silent" ? false : flags.logLevel,
        embeddingModelPath: flags.embeddingModel === undefined ? undefined : ensure(flags.embeddingModel),
        rerankModelPath: flags.rerankModel === undefined ? undefined : ensure(flags.rerankModel),
        modelPath: ensure(flags.model),
      });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      exitWithUsageError(error);
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
          process.stderr.write(
            `edgellm: shutdown did not finish in time (${describeShutdown(server.shutdownSteps)}); exiting\n`,
          );
          process.exit(1);
        },
        flags.shutdownGrace * 1000 + DISPOSE_BUDGET_MS,
      );
      server.close().then(
        () => {
          process.stdout.write(`edgellm: stopped (${describeShutdown(server.shutdownSteps)})\n`);
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
      // What did load (the chat model, when the embedding model or the reranker failed) is freed before the
      // exit: llama.cpp aborts the process when its backend goes away under a model still loaded.
      await server.close().catch(() => server.app.close());
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
