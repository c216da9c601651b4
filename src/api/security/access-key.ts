import { randomBytes } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { keyProblem } from "./keys.js";

/** What marks a key as one edgellm made. */
export const GENERATED_KEY_PREFIX = "sk-edgellm-";

export interface GeneratedKey {
  key: string;
  /** Where it is kept. */
  file: string;
  /** True when this start made it; false when an earlier one did. */
  created: boolean;
  /** Set when the file can be read by other users of the machine. */
  warning?: string;
}

/** A new key: 32 random bytes (256 bits), base64url. */
export function newAccessKey(): string {
  return GENERATED_KEY_PREFIX + randomBytes(32).toString("base64url");
}

/**
 * The key of an exposed server with no key configured: read from `<home>/api-key`, or made and written
 * there (mode 0600, in a folder made 0700) on the first start, so a bookmarked access URL keeps working.
 */
export async function loadOrCreateAccessKey(home: string): Promise<GeneratedKey> {
  const file = join(home, "api-key");
  await mkdir(home, { recursive: true, mode: 0o700 });
  const key = newAccessKey();
  try {
    // "wx": two servers starting at once must not each write their own key; the loser reads the winner's.
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: "wx" });
    return { key, file, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const stored = (await readFile(file, "utf8")).trim();
  const problem = keyProblem(stored);
  if (problem)
    throw new Error(`${file} does not hold a usable key (${problem}): delete it to make a new one.`);
  const mode = (await stat(file)).mode & 0o777;
  return {
    key: stored,
    file,
    created: false,
    ...((mode & 0o077) !== 0 && {
      warning: `${file} can be read by other users (mode ${mode.toString(8)}): chmod 600 it.`,
    }),
  };
}

/**
 * The URLs that open the chat page with `key` (in the fragment, which browsers never send to a server or
 * write to its log). A wildcard bind is named by the machine's host name, then by 127.0.0.1 for this machine.
 */
export function accessUrls(serverUrl: string, key: string, machine: string): string[] {
  const url = new URL(serverUrl);
  const fragment = `/#key=${encodeURIComponent(key)}`;
  if (url.hostname !== "0.0.0.0" && url.hostname !== "[::]") return [`${url.origin}${fragment}`];
  const port = url.port ? `:${url.port}` : "";
  return [`http://${machine}${port}${fragment}`, `http://127.0.0.1${port}${fragment}`];
}
