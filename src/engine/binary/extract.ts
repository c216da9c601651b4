/**
 * Unpacks llama.cpp's release archives (.zip, and .tar.gz in newer releases) into a folder.
 *
 * Nothing may land outside the folder: tar refuses `..` and absolute names itself (and any refusal fails
 * the whole archive); for zip, yauzl rejects such names and we check symlink targets ourselves.
 */
import { createWriteStream } from "node:fs";
import { chmod, mkdir, symlink } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar";
import yauzl from "yauzl";

export type ArchiveKind = "zip" | "tar.gz";

/** The archive kind a file name says, or undefined for anything else. */
export function archiveKind(name: string): ArchiveKind | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith(".zip")) return "zip";
  if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz")) return "tar.gz";
  return undefined;
}

/** Extracts `file` into the existing folder `dest`. */
export async function extractArchive(file: string, kind: ArchiveKind, dest: string): Promise<void> {
  if (kind === "tar.gz") await extractTar(file, dest);
  else await extractZip(file, dest);
}

/**
 * tar skips an entry it refuses with a warning. Strict mode would reject at the first one while later
 * entries are still being written, racing the caller's cleanup, so warnings are collected and thrown
 * once the whole archive is done.
 */
async function extractTar(file: string, dest: string): Promise<void> {
  const refused: string[] = [];
  await tar.x({ file, cwd: dest, onwarn: (code, message) => refused.push(`${code}: ${message}`) });
  if (refused.length > 0) throw new Error(refused.join("; "));
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

async function extractZip(file: string, dest: string): Promise<void> {
  const zip = await yauzl.openPromise(file, { lazyEntries: true, strictFileNames: true });
  try {
    await new Promise<void>((done, fail) => {
      zip.on("error", fail);
      zip.on("end", () => done());
      zip.on("entry", (entry: yauzl.Entry) => {
        writeEntry(zip, entry, dest).then(() => zip.readEntry(), fail);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

async function writeEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, dest: string): Promise<void> {
  const target = inside(dest, entry.fileName);
  if (entry.fileName.endsWith("/")) {
    await mkdir(target, { recursive: true });
    return;
  }
  await mkdir(dirname(target), { recursive: true });
  // Unix permissions (and the file type) sit in the high 16 bits when the archive was made on Unix.
  const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
  const stream = await zip.openReadStreamPromise(entry);
  if ((mode & S_IFMT) === S_IFLNK) {
    const link = await readAll(stream);
    if (isAbsolute(link)) throw new Error(`archive entry ${entry.fileName} links outside the archive`);
    inside(dest, relative(dest, resolve(dirname(target), link)));
    await symlink(link, target);
    return;
  }
  const perm = mode & 0o777;
  await pipeline(stream, createWriteStream(target, { mode: perm || 0o644 }));
  // createWriteStream's mode is masked by the umask; the executable bit must survive it.
  if (perm) await chmod(target, perm);
}

/** `name` resolved under `dest`; throws if it would leave it. */
function inside(dest: string, name: string): string {
  const target = resolve(dest, name);
  const rel = relative(dest, target);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new Error(`archive entry ${name} would be written outside ${dest}`);
  }
  return target;
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
