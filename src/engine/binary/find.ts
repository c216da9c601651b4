/** Which llama-server binary edgellm would run, in a fixed order of preference. */
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  type BundledLlamaCpp,
  bundledLlamaCpp,
  type CachedVariant,
  cachedBinaryDir,
  executableName,
  legacyBuildPath,
  type Platform,
} from "./paths.js";
import { checkLlamaServer, LlamaServerBinaryError } from "./version.js";

/** The environment variable naming a binary the user has; same meaning as `--llama-server`. */
export const LLAMA_SERVER_ENV = "EDGELLM_LLAMA_SERVER";

/** Where a binary came from: the flag, the environment variable, the cache, or the old build script. */
export type LlamaServerSource = "option" | "env" | CachedVariant | "legacy";

export interface LlamaServerLocation {
  /** Absolute path of the executable. */
  path: string;
  source: LlamaServerSource;
}

export interface FindOptions {
  /** `--llama-server PATH`: a binary (or the folder holding one) the user has. Wins over everything. */
  path?: string;
  /** Environment to read {@link LLAMA_SERVER_ENV} from. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** edgellm's data folder. Default: `EDGELLM_HOME`, else `~/.edgellm`. */
  home?: string;
  /** The bundled llama.cpp; read from node-llama-cpp when omitted. */
  bundled?: BundledLlamaCpp;
  /** Platform whose cache folders to look in. Default: this one. */
  platform?: Platform;
}

/**
 * Order: an explicit path (flag, then environment variable) > a cached build or pull for the bundled
 * llama.cpp (portable, then the official release, then native: the first two carry ggml's CPU modules,
 * AMX among them, and on the Xeon VM this was measured on the portable build with an AMX module decoded
 * at 80 tokens/s where the native build, which cannot load one, made 36) >
 * the old build script's output if it was built from the bundled commit > undefined.
 *
 * An explicit path that does not exist throws: the user asked for that binary, and quietly running
 * another one (or none) would hide the mistake.
 */
export async function findLlamaServer(opts: FindOptions = {}): Promise<LlamaServerLocation | undefined> {
  return (await llamaServerCandidates(opts))[0];
}

/** Every binary findLlamaServer could pick, best first: one if the user named it, else each cached one. */
export async function llamaServerCandidates(opts: FindOptions = {}): Promise<LlamaServerLocation[]> {
  const env = opts.env ?? process.env;
  if (opts.path) return [{ path: await explicitBinary(opts.path, "--llama-server"), source: "option" }];
  const fromEnv = env[LLAMA_SERVER_ENV];
  if (fromEnv) return [{ path: await explicitBinary(fromEnv, LLAMA_SERVER_ENV), source: "env" }];

  const found: LlamaServerLocation[] = [];
  const bundled = opts.bundled ?? (await bundledLlamaCpp());
  for (const variant of ["portable", "release", "native"] as const) {
    const dir = cachedBinaryDir(bundled.tag, variant, { home: opts.home, platform: opts.platform });
    const path = join(dir, executableName(opts.platform?.os));
    if (await isExecutable(path)) found.push({ path, source: variant });
  }
  const legacy = legacyBuildPath(opts.home);
  if (bundled.commit && (await isExecutable(legacy))) {
    const version = await checkLlamaServer(legacy).catch(() => undefined);
    if (version?.commit && bundled.commit.startsWith(version.commit))
      found.push({ path: legacy, source: "legacy" });
  }
  return found;
}

/** A path given by the user: the executable itself or a folder holding it. */
async function explicitBinary(given: string, from: string): Promise<string> {
  const info = await stat(given).catch(() => undefined);
  if (!info) throw new LlamaServerBinaryError(`${from} ${given}: no such file`);
  const path = resolve(info.isDirectory() ? join(given, executableName()) : given);
  if (!(await isExecutable(path))) {
    throw new LlamaServerBinaryError(
      `${from} ${given}: ${info.isDirectory() ? `no ${executableName()} in that folder` : "not an executable file"}`,
    );
  }
  return path;
}

async function isExecutable(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return false;
  return access(path, process.platform === "win32" ? constants.F_OK : constants.X_OK).then(
    () => true,
    () => false,
  );
}
