/**
 * Putting a finished binary folder into the cache. Builds and pulls work in a staging folder beside the
 * cache folders (same file system, so the final step is one rename) and move in only a binary that ran,
 * so a cut download, a failed build or a crash mid-way never leaves a half folder where find looks.
 */
import { mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isAlive } from "../../pid.js";
import type { LlamaServerSource } from "./find.js";
import { executableName, llamaServerCacheDir } from "./paths.js";
import { smokeTestWithFallback } from "./smoke.js";
import { checkLlamaServer, type LlamaServerVersion } from "./version.js";

/** A binary ready to run. */
export interface LlamaServerBinary {
  /** Absolute path of the executable; its shared libraries are beside it. */
  path: string;
  source: LlamaServerSource;
  version: LlamaServerVersion;
}

/** A fresh staging folder under the cache, named after this process; remove it when done. */
export async function stagingDir(home?: string): Promise<string> {
  const root = llamaServerCacheDir(home);
  await mkdir(root, { recursive: true });
  await removeAbandoned(root);
  return mkdtemp(join(root, `.staging-${process.pid}-`));
}

/**
 * Staging folders (and replaced binaries) of processes that died mid-way, e.g. killed during a build,
 * would pile up: one holds a source tree and a build tree. A live process with a reused pid keeps its
 * folder, which errs on the safe side.
 */
async function removeAbandoned(root: string): Promise<void> {
  for (const name of await readdir(root)) {
    const owner = /^\.staging-(\d+)-/.exec(name)?.[1] ?? /\.old-(\d+)-\d+$/.exec(name)?.[1];
    if (owner && !isAlive(Number(owner))) await rm(join(root, name), { recursive: true, force: true });
  }
}

/** The first llama-server executable under `dir`, breadth first (archives nest it in `build/bin/` or `llama-<tag>/`). */
export async function findExecutableIn(dir: string): Promise<string | undefined> {
  const name = executableName();
  let level = [dir];
  for (let depth = 0; depth < 6 && level.length > 0; depth++) {
    const next: string[] = [];
    for (const folder of level) {
      const entries = await readdir(folder, { withFileTypes: true });
      const hit = entries.find((e) => e.name === name && (e.isFile() || e.isSymbolicLink()));
      if (hit) return join(folder, hit.name);
      for (const e of entries) if (e.isDirectory()) next.push(join(folder, e.name));
    }
    level = next;
  }
  return undefined;
}

/**
 * Checks that `executable` runs and loads a model (in `workDir`, outside its folder), then renames its folder to `finalDir`, replacing an older copy.
 * Returns the binary at its final path.
 */
export async function moveIntoPlace(
  executable: string,
  finalDir: string,
  source: LlamaServerSource,
  opts: { workDir: string; log?: (line: string) => void; amxReplacement?: string },
): Promise<LlamaServerBinary> {
  const version = await checkLlamaServer(executable);
  await smokeTestWithFallback(executable, opts.workDir, {
    log: opts.log,
    amxReplacement: opts.amxReplacement,
  });
  await mkdir(dirname(finalDir), { recursive: true });
  const old = `${finalDir}.old-${process.pid}-${Date.now()}`;
  const hadOld = await rename(finalDir, old).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return false;
      throw err;
    },
  );
  try {
    await rename(dirname(executable), finalDir);
  } catch (err) {
    if (hadOld) await rename(old, finalDir).catch(() => undefined);
    throw err;
  }
  if (hadOld) await rm(old, { recursive: true, force: true });
  return { path: join(finalDir, basename(executable)), source, version };
}
