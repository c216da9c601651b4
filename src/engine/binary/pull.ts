/**
 * `edgellm engine pull`: llama.cpp's official release archive for this platform and the bundled tag,
 * downloaded with the model downloader (resumable; size and SHA-256 from GitHub's release API checked
 * before anything is unpacked), unpacked in a staging folder and moved into the cache once it runs.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import {
  type DownloadProgress,
  downloadFile,
  getFollowingRedirects,
  HttpStatusError,
  type HttpTimeouts,
} from "../../models/download.js";
import { type ArchiveKind, archiveKind, extractArchive } from "./extract.js";
import { findExecutableIn, type LlamaServerBinary, moveIntoPlace, stagingDir } from "./install.js";
import {
  type BundledLlamaCpp,
  bundledLlamaCpp,
  cachedBinaryDir,
  currentPlatform,
  llamaServerCacheDir,
  type Platform,
} from "./paths.js";
import { amxReplacementFor } from "./smoke.js";
import { LlamaServerBinaryError } from "./version.js";

/** Environment variable replacing GitHub's API base, for mirrors (and tests). */
export const RELEASES_URL_ENV = "EDGELLM_LLAMA_RELEASES_URL";
export const DEFAULT_RELEASES_URL = "https://api.github.com";
const MAX_RELEASE_JSON_BYTES = 8 * 1024 * 1024;

const assetSchema = z.object({
  name: z.string(),
  size: z.number().int().nonnegative(),
  digest: z.string().nullish(),
  browser_download_url: z.string(),
});
const releaseSchema = z.object({ tag_name: z.string().optional(), assets: z.array(assetSchema) });
export type ReleaseAsset = z.infer<typeof assetSchema>;

/** How llama.cpp's CPU release assets name each platform (`llama-<tag>-bin-<name>.zip|.tar.gz`). */
const PLATFORM_NAMES: Record<string, string> = {
  "linux-x64": "ubuntu-x64",
  "linux-arm64": "ubuntu-arm64",
  "darwin-arm64": "macos-arm64",
  "darwin-x64": "macos-x64",
  "win32-x64": "win-cpu-x64",
  "win32-arm64": "win-cpu-arm64",
};

/** The platform part of llama.cpp's asset names ("ubuntu-x64"), or undefined where it publishes no CPU build. */
export function releasePlatformName(platform: Platform): string | undefined {
  return PLATFORM_NAMES[`${platform.os}-${platform.arch}`];
}

/**
 * This platform's CPU build among a release's assets, or undefined. Where a release has both archive
 * kinds, tar.gz is preferred off Windows (it keeps symlinks and modes without relying on zip extras).
 */
export function pickReleaseAsset(
  assets: readonly ReleaseAsset[],
  platform: Platform,
): ReleaseAsset | undefined {
  const name = PLATFORM_NAMES[`${platform.os}-${platform.arch}`];
  if (!name) return undefined;
  const pattern = new RegExp(`^llama-.+-bin-${name.replace(/[.-]/g, "\\$&")}\\.(zip|tar\\.gz)$`);
  const matching = assets.filter((a) => pattern.test(a.name));
  const preferred = platform.os === "win32" ? "zip" : "tar.gz";
  return matching.find((a) => archiveKind(a.name) === preferred) ?? matching[0];
}

export interface PullOptions extends HttpTimeouts {
  /** edgellm's data folder. Default: `EDGELLM_HOME`, else `~/.edgellm`. */
  home?: string;
  /** The llama.cpp release to fetch. Default: the one node-llama-cpp bundles. */
  bundled?: BundledLlamaCpp;
  /** Platform to fetch for. Default: this one (the binary must run here, so only tests change it). */
  platform?: Platform;
  /** API base serving `/repos/{repo}/releases/tags/{tag}`. Default: {@link RELEASES_URL_ENV}, else GitHub's. */
  releasesUrl?: string;
  /** Environment to read {@link RELEASES_URL_ENV} from. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  onProgress?: (progress: DownloadProgress) => void;
  /** Notes worth a line, e.g. a CPU module removed because it crashed here. */
  /**
   * An AMX CPU module to use if the binary's own crashes here. Default: node-llama-cpp's prebuilt module of
   * the same llama.cpp release ({@link prebuiltAmxModule}); `null`: none (a crashing module is removed).
   */
  amxReplacement?: string | null;
  log?: (line: string) => void;
  /** Aborts; a partly downloaded archive is kept for the next pull to resume. */
  signal?: AbortSignal;
  /** Retries of a cut download; see `downloadFile`. Default 5. */
  retries?: number;
  /** First retry delay in ms; see `downloadFile`. Default 1000. */
  retryDelayMs?: number;
}

/** Downloads, verifies, unpacks and caches the release binary; returns it at its cache path. */
export async function pullLlamaServer(opts: PullOptions = {}): Promise<LlamaServerBinary> {
  const bundled = opts.bundled ?? (await bundledLlamaCpp());
  const platform = opts.platform ?? currentPlatform();
  const base = (
    opts.releasesUrl ??
    (opts.env ?? process.env)[RELEASES_URL_ENV] ??
    DEFAULT_RELEASES_URL
  ).replace(/\/+$/, "");
  const releaseUrl = `${base}/repos/${bundled.repo}/releases/tags/${encodeURIComponent(bundled.tag)}`;
  const release = await fetchRelease(releaseUrl, opts);
  const asset = pickReleaseAsset(release.assets, platform);
  if (!asset) {
    const names = release.assets.map((a) => a.name).join(", ") || "none";
    throw new LlamaServerBinaryError(
      `llama.cpp release ${bundled.tag} has no CPU build for ${platform.os}-${platform.arch} (its assets: ${names}). ` +
        "Build one from the bundled source instead: edgellm engine build",
    );
  }
  const sha256 = /^sha256:([0-9a-f]{64})$/i.exec(asset.digest ?? "")?.[1];
  if (!sha256) {
    throw new LlamaServerBinaryError(
      `${releaseUrl} gives no SHA-256 digest for ${asset.name}, so it cannot be verified and is not downloaded. ` +
        "Build the binary instead (edgellm engine build) or pass one with --llama-server.",
    );
  }
  const kind = archiveKind(asset.name) as ArchiveKind;
  if (!/^[A-Za-z0-9._-]+$/.test(asset.name))
    throw new LlamaServerBinaryError(`unsafe asset name ${asset.name}`);

  const downloads = join(llamaServerCacheDir(opts.home), "downloads");
  await mkdir(downloads, { recursive: true });
  const archive = join(downloads, asset.name);
  await downloadFile({
    url: asset.browser_download_url,
    dest: archive,
    expectedSize: asset.size,
    sha256,
    magic: kind === "zip" ? "PK\x03\x04" : "\x1f\x8b",
    onProgress: opts.onProgress,
    signal: opts.signal,
    retries: opts.retries,
    retryDelayMs: opts.retryDelayMs,
    connectTimeoutMs: opts.connectTimeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs,
  });

  const staging = await stagingDir(opts.home);
  try {
    await extractArchive(archive, kind, staging).catch((err: unknown) => {
      throw new LlamaServerBinaryError(`${asset.name} could not be unpacked: ${(err as Error).message}`, err);
    });
    const executable = await findExecutableIn(staging);
    if (!executable) throw new LlamaServerBinaryError(`${asset.name} holds no llama-server executable`);
    const binary = await moveIntoPlace(
      executable,
      cachedBinaryDir(bundled.tag, "release", { home: opts.home, platform }),
      "release",
      {
        workDir: staging,
        log: opts.log,
        amxReplacement: await amxReplacementFor(opts.amxReplacement, bundled.tag),
      },
    );
    return binary;
  } finally {
    // A verified archive that did not unpack or run would fail the same way next time: keep neither.
    await rm(archive, { force: true });
    await rm(staging, { recursive: true, force: true, maxRetries: 3 });
  }
}

async function fetchRelease(url: string, opts: PullOptions): Promise<z.infer<typeof releaseSchema>> {
  const res = await getFollowingRedirects(url, {
    headers: { accept: "application/vnd.github+json" },
    signal: opts.signal,
    connectTimeoutMs: opts.connectTimeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs,
  });
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    // A release's JSON is some 100 KiB; a mirror sending more is not serving one.
    if (bytes > MAX_RELEASE_JSON_BYTES) {
      res.destroy();
      throw new LlamaServerBinaryError(`${url} sent over ${MAX_RELEASE_JSON_BYTES} bytes; not a release`);
    }
    chunks.push(chunk);
  }
  if (res.statusCode === 404) throw new LlamaServerBinaryError(`no llama.cpp release at ${url} (HTTP 404)`);
  if (res.statusCode !== 200) throw new HttpStatusError(url, res.statusCode ?? 0, res.headers);
  let parsed: z.infer<typeof releaseSchema>;
  try {
    parsed = releaseSchema.parse(JSON.parse(Buffer.concat(chunks).toString("utf8")));
  } catch (err) {
    throw new LlamaServerBinaryError(
      `${url} did not answer with a release (name, size, digest of each asset)`,
      err,
    );
  }
  return parsed;
}
