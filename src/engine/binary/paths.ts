/**
 * Where llama-server binaries live and which llama.cpp version they must be.
 *
 * Cache layout, one folder per binary, keyed by the llama.cpp tag node-llama-cpp bundles so that an
 * upgrade of node-llama-cpp never runs an older server against it:
 *   <EDGELLM_HOME>/engines/llama-server/<tag>-<os>-<arch>/          pulled official release
 *   <EDGELLM_HOME>/engines/llama-server/<tag>-<os>-<arch>-portable/ built here, every CPU variant
 *   <EDGELLM_HOME>/engines/llama-server/<tag>-<os>-<arch>-native/   built here for this CPU only
 *   <EDGELLM_HOME>/engines/llama-server/downloads/                  archives being downloaded (.part resumes)
 * Each folder holds `llama-server` with its shared libraries (and ggml's CPU variant modules) beside it.
 */
import { open, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { edgellmHome } from "../../models/registry.js";

/** How a cached binary was made; also the suffix of its cache folder. */
export type CachedVariant = "native" | "portable" | "release";

/** The llama.cpp source node-llama-cpp ships, which the engine's binary should be built from. */
export interface BundledLlamaCpp {
  /** Release tag, e.g. "b6000" (what llama.cpp's releases are named after). */
  tag: string;
  /** GitHub repository, e.g. "ggml-org/llama.cpp". */
  repo: string;
  /** The bundle's commit (40 hex digits), or undefined when the bundle is missing or unreadable. */
  commit: string | undefined;
  /** The git bundle holding the source. */
  bundlePath: string;
}

/** node-llama-cpp's package folder (its package.json is not exported, so found from its entry point). */
export function nodeLlamaCppDir(): string {
  return resolve(createRequire(import.meta.url).resolve("node-llama-cpp"), "../..");
}

/** Reads node-llama-cpp's llama.cpp.info.json and the commit at the head of its git bundle. */
export async function bundledLlamaCpp(packageDir: string = nodeLlamaCppDir()): Promise<BundledLlamaCpp> {
  const info = JSON.parse(await readFile(join(packageDir, "llama", "llama.cpp.info.json"), "utf8")) as {
    tag?: unknown;
    llamaCppGithubRepo?: unknown;
  };
  if (typeof info.tag !== "string" || typeof info.llamaCppGithubRepo !== "string") {
    throw new Error(`${packageDir}/llama/llama.cpp.info.json has no tag or llamaCppGithubRepo`);
  }
  const bundlePath = join(packageDir, "llama", "gitRelease.bundle");
  return { tag: info.tag, repo: info.llamaCppGithubRepo, commit: await bundleCommit(bundlePath), bundlePath };
}

/** A git bundle starts with a text header ("# v2 git bundle", then "<sha> <ref>" lines), so no git is needed. */
async function bundleCommit(bundlePath: string): Promise<string | undefined> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(bundlePath, "r");
    const buf = Buffer.alloc(1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const header = buf.subarray(0, bytesRead).toString("latin1");
    return /^# v\d git bundle\n(?:-[^\n]*\n)*([0-9a-f]{40}) /.exec(header)?.[1];
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

/** Node's platform and arch as llama.cpp's release names spell them. */
export interface Platform {
  /** `process.platform`, e.g. "linux", "darwin", "win32". */
  os: NodeJS.Platform;
  /** `process.arch`, e.g. "x64", "arm64". */
  arch: string;
}

export function currentPlatform(): Platform {
  return { os: process.platform, arch: process.arch };
}

/** `<EDGELLM_HOME>/engines/llama-server`. */
export function llamaServerCacheDir(home: string = edgellmHome()): string {
  return join(home, "engines", "llama-server");
}

/** The folder of one cached binary, whether or not it exists. */
export function cachedBinaryDir(
  tag: string,
  variant: CachedVariant,
  opts: { home?: string; platform?: Platform } = {},
): string {
  const { os, arch } = opts.platform ?? currentPlatform();
  const suffix = variant === "release" ? "" : `-${variant}`;
  return join(llamaServerCacheDir(opts.home), `${tag}-${os}-${arch}${suffix}`);
}

/** The executable's file name on this platform. */
export function executableName(os: NodeJS.Platform = process.platform): string {
  return os === "win32" ? "llama-server.exe" : "llama-server";
}

/**
 * Where `scripts/build-llama-server.sh` put its build before `edgellm engine build` existed. Found last,
 * and only used when its commit is the bundled one, since that folder is not keyed by version.
 */
export function legacyBuildPath(home: string = edgellmHome()): string {
  return join(home, "llama-server", "build", "bin", executableName());
}
