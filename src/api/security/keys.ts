import { createHash, timingSafeEqual } from "node:crypto";

/** A key clients may present, as the server keeps it: its digest, never the key. */
export interface ApiKey {
  /** The name `/metrics` and the log use: the key file's name for it, or `key-` and a short hash. */
  label: string;
  /** SHA-256 of the key. */
  digest: Buffer;
  /** This key's own requests per minute; 0 for none. Default: the server-wide `--key-rpm`. */
  rpm?: number;
  /** This key's own tokens per day; 0 for none. Default: the server-wide `--key-tpd`. */
  tpd?: number;
}

/** Shortest key accepted: anything shorter is guessable. */
export const MIN_KEY_LENGTH = 8;

const LABEL = /^[A-Za-z0-9_.@-]{1,64}$/;

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** A key as the server keeps it. `label` defaults to `key-` and the first hex digits of the key's SHA-256. */
export function apiKey(key: string, options: { label?: string; rpm?: number; tpd?: number } = {}): ApiKey {
  const digest = sha256(key);
  return {
    label: options.label ?? `key-${digest.toString("hex").slice(0, 4)}`,
    digest,
    ...limitsOf(options),
  };
}

function limitsOf(options: { rpm?: number; tpd?: number }) {
  return {
    ...(options.rpm !== undefined && { rpm: options.rpm }),
    ...(options.tpd !== undefined && { tpd: options.tpd }),
  };
}

/** Why a key cannot be used, or undefined when it can. Never quotes the key. */
export function keyProblem(key: string): string | undefined {
  if (key.length < MIN_KEY_LENGTH) return `a key must have at least ${MIN_KEY_LENGTH} characters`;
  // A header value carries printable ASCII only; a space would split the Bearer credential.
  if (!/^[\x21-\x7e]+$/.test(key)) return "a key may hold printable ASCII characters only, and no spaces";
  return undefined;
}

/**
 * Reads an API key file: one key a line, `#` comments and blank lines ignored. A line is
 * `[LABEL:] KEY [rpm=N] [tpd=N]`: the label names the key in `/metrics` and the log, and `rpm`/`tpd` override
 * the server-wide limits for it (0: no limit). Throws an Error naming the line, never quoting a key.
 */
export function parseKeyFile(text: string, source: string): ApiKey[] {
  const keys: ApiKey[] = [];
  const lines: number[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fail = (why: string): never => {
      throw new Error(`${source} line ${index + 1}: ${why}.`);
    };
    const fields = line.split(/\s+/);
    if (fields.slice(1).some((f) => f.endsWith(":")))
      fail("a label is 1 to 64 letters, digits or _.@- followed by ':', with no space in it");
    let label: string | undefined;
    if (fields[0].endsWith(":")) {
      label = fields.shift()?.slice(0, -1) ?? "";
      if (!LABEL.test(label)) fail("a label is 1 to 64 letters, digits or _.@- followed by ':'");
    }
    const key = fields.shift() ?? fail("a label without a key");
    const problem = keyProblem(key);
    if (problem) fail(problem);
    const limits: { rpm?: number; tpd?: number } = {};
    for (const option of fields) {
      const match =
        /^(rpm|tpd)=(\d{1,15})$/.exec(option) ??
        fail(
          /^(rpm|tpd)=/.test(option)
            ? `${option.slice(0, 3)} must be a whole number (0: no limit)`
            : option.includes("=")
              ? `unknown option '${option.split("=")[0].slice(0, 20)}': expected rpm=N or tpd=N`
              : "more than one key on a line (a label ends with ':')",
        );
      limits[match[1] as "rpm" | "tpd"] = Number(match[2]);
    }
    const entry = apiKey(key, { label, ...limits });
    const repeated = keys.findIndex((k) => k.digest.equals(entry.digest));
    if (repeated >= 0) fail(`the key of line ${lines[repeated]} again`);
    keys.push(entry);
    lines.push(index + 1);
  }
  return keys;
}

/** The key a request presents: `Authorization: Bearer KEY`, else `x-api-key: KEY`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === "string") {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (match) return match[1];
  }
  const header = headers["x-api-key"];
  return typeof header === "string" && header.trim() !== "" ? header.trim() : undefined;
}

/** The configured keys, looked up in constant time. */
export class KeyRing {
  constructor(readonly keys: readonly ApiKey[]) {}

  get size(): number {
    return this.keys.length;
  }

  /**
   * The entry for `key`, or undefined. Both sides are hashed first, so every comparison is of 32 bytes
   * whatever was sent, and every entry is compared: the time taken says nothing about any key.
   */
  find(key: string): ApiKey | undefined {
    const digest = sha256(key);
    let found: ApiKey | undefined;
    for (const entry of this.keys) {
      if (timingSafeEqual(digest, entry.digest) && found === undefined) found = entry;
    }
    return found;
  }
}
