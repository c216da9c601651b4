/** What `serve` calls to get a llama-server binary: find one, else fetch one if it may, else say why not. */
import type { DownloadProgress, HttpTimeouts } from "../../models/download.js";
import { llamaServerCandidates } from "./find.js";
import type { LlamaServerBinary } from "./install.js";
import { type BundledLlamaCpp, bundledLlamaCpp, type Platform } from "./paths.js";
import { pullLlamaServer } from "./pull.js";
import { checkLlamaServer, LlamaServerBinaryError } from "./version.js";

export interface EnsureOptions extends HttpTimeouts {
  /** `--llama-server PATH`. */
  path?: string;
  /**
   * May a missing binary be downloaded (the machine has network and the user did not opt out)?
   * `EDGELLM_OFFLINE=1` (or "true") in `env` forbids it whatever this says, as it does for models.
   */
  allowDownload: boolean;
  /** One line per event worth a log entry (a broken cached binary skipped, a download starting or failing). */
  log?: (line: string) => void;
  /** Download progress of a pull. */
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Default `process.env` (EDGELLM_LLAMA_SERVER, EDGELLM_LLAMA_RELEASES_URL). */
  env?: NodeJS.ProcessEnv;
  /** edgellm's data folder. Default: `EDGELLM_HOME`, else `~/.edgellm`. */
  home?: string;
  /** Default: the llama.cpp node-llama-cpp bundles. */
  bundled?: BundledLlamaCpp;
  /** Default: this platform. */
  platform?: Platform;
  /** Retry delay of a cut download, in ms; see `downloadFile`. Default 1000. */
  retryDelayMs?: number;
}

/** A binary, or why there is none (one log line that says how to get one). */
export type EnsureResult =
  | { binary: LlamaServerBinary; reason?: undefined }
  | { binary: undefined; reason: string };

/**
 * Finds a binary that runs (see `findLlamaServer` for the order); else, when allowed, pulls the release
 * for the bundled llama.cpp; else returns a reason. Being offline, a release without this platform and a
 * failed download are reasons, not exceptions: the in-process engine still serves.
 *
 * Throws only when the user named a binary (flag or environment variable) that is missing or does not
 * run, and when `signal` aborts.
 */
export async function ensureLlamaServer(opts: EnsureOptions): Promise<EnsureResult> {
  const bundled = opts.bundled ?? (await bundledLlamaCpp());
  const log = opts.log ?? (() => {});
  const findOpts = { path: opts.path, env: opts.env, home: opts.home, bundled, platform: opts.platform };
  for (const found of await llamaServerCandidates(findOpts)) {
    try {
      return { binary: { ...found, version: await checkLlamaServer(found.path) } };
    } catch (err) {
      // The user named this one: say it does not run rather than quietly serve without it.
      if (found.source === "option" || found.source === "env" || !(err instanceof LlamaServerBinaryError)) {
        throw err;
      }
      log(`Skipping a cached llama-server that does not run: ${err.message}`);
    }
  }

  const howTo =
    "run `edgellm engine pull` (download) or `edgellm engine build` (compile), or pass --llama-server PATH";
  const env = opts.env ?? process.env;
  const offline = ["1", "true"].includes((env.EDGELLM_OFFLINE ?? "").toLowerCase());
  if (!opts.allowDownload || offline) {
    const why = offline ? " (EDGELLM_OFFLINE is set, so none is downloaded)" : "";
    return {
      binary: undefined,
      reason: `no llama-server binary for llama.cpp ${bundled.tag}${why}; ${howTo}`,
    };
  }
  log(
    `No llama-server binary for llama.cpp ${bundled.tag}; downloading llama.cpp's release for this platform.`,
  );
  try {
    const binary = await pullLlamaServer({
      home: opts.home,
      bundled,
      platform: opts.platform,
      env: opts.env,
      onProgress: opts.onProgress,
      log,
      signal: opts.signal,
      // The same bound as model downloads, so an offline start falls back as fast.
      connectTimeoutMs: opts.connectTimeoutMs ?? positiveInt(env.EDGELLM_CONNECT_TIMEOUT_MS),
      idleTimeoutMs: opts.idleTimeoutMs,
      retryDelayMs: opts.retryDelayMs,
    });
    return { binary };
  } catch (err) {
    opts.signal?.throwIfAborted();
    const why = err instanceof Error ? err.message : String(err);
    return { binary: undefined, reason: `could not download llama-server (${why}); ${howTo}` };
  }
}

function positiveInt(value: string | undefined): number | undefined {
  const n = Number(value);
  return value && Number.isInteger(n) && n > 0 ? n : undefined;
}
