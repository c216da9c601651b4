/**
 * Resumable, verified file download over plain node:http(s).
 *
 * node-llama-cpp's createModelDownloader (ipull) resumes and follows HF_ENDPOINT, but it checks
 * no sha256, knows no ModelScope and exposes no connect timeout, so we keep our own.
 *
 * Invariant: bytes land in `<dest>.part`; only a file that passed every check (size, GGUF magic,
 * sha256) is renamed to `dest`, so a cut or corrupt download is never mistaken for a model.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SETTINGS } from "../config/settings.js";
import { isAlive } from "../pid.js";
import { DownloadVerificationError, ModelUnavailableError } from "../provider/errors.js";

/** Progress of one download; `downloadedBytes` includes a resumed part and restarts at 0 if the server ignores Range. */
export interface DownloadProgress {
  /** Bytes of the file on disk so far, in bytes. */
  downloadedBytes: number;
  /** Size of the whole file in bytes, or null while unknown. */
  totalBytes: number | null;
  /** Recent transfer rate (last few seconds), in bytes per second. */
  bytesPerSecond: number;
  /** Estimated seconds left, or null while the size or rate is unknown. */
  etaSeconds: number | null;
}

/** Timeouts shared by every request we make. */
export interface HttpTimeouts {
  /** Time allowed to connect and receive the response headers, in ms. Default 10 000. Keeps the offline case fast. */
  connectTimeoutMs?: number;
  /** Time the body may stall without a byte before the connection counts as cut, in ms. Default 30 000. */
  idleTimeoutMs?: number;
}

export interface DownloadFileOptions extends HttpTimeouts {
  /** URL to GET; redirects are followed (at most 10). */
  url: string;
  /** Final path of the file. The download goes to `<dest>.part` and `<dest>.lock` guards it. */
  dest: string;
  /** Expected size in bytes; checked before the rename. Default: unchecked (only the server's length). */
  expectedSize?: number;
  /** Expected sha256 as hex (any case); checked before the rename. Default: unchecked. */
  sha256?: string;
  /** Bytes (latin1, at most 4) the file must start with; checked before the rename. Default "GGUF"; null: none. */
  magic?: string | null;
  /** Extra request headers. `authorization` is dropped on a redirect to another origin (e.g. a CDN). */
  headers?: Record<string, string>;
  /** Called at most every `progressIntervalMs`, and once at the start and the end. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Aborts the download; the `.part` file is kept so the next call resumes. */
  signal?: AbortSignal;
  /** Consecutive failed attempts (without new bytes) retried after a cut connection or 5xx. Default 5. */
  retries?: number;
  /** First retry delay in ms, doubled on each retry, capped at 30 000. Default 1000. */
  retryDelayMs?: number;
  /** Minimum interval between progress calls, in ms. Default 200. */
  progressIntervalMs?: number;
}

export interface DownloadResult {
  path: string;
  sizeBytes: number;
  /** Lower-case hex sha256 of the file. */
  sha256: string;
}

/** The host could not be reached or the connection broke (DNS, refused, reset, timeout, TLS). */
export class NetworkError extends Error {
  constructor(
    readonly url: string,
    readonly code: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = "NetworkError";
  }
}

/** The server answered with a status we cannot use. */
export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
  ) {
    super(`${url} answered HTTP ${status}`);
    this.name = "HttpStatusError";
  }
  /** 5xx, 429 and 408 are worth retrying; other statuses will not change. */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429 || this.status === 408;
  }
}

export const GGUF_MAGIC = "GGUF";
const MAX_REDIRECTS = 10;
const USER_AGENT = "edgellm/0.1";

export interface RequestOptions extends HttpTimeouts {
  method?: "GET" | "HEAD";
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * One HTTP request, no redirect handling. Resolves with the response once headers arrive;
 * the body must be consumed or destroyed by the caller. Transport failures become NetworkError.
 */
export function httpRequest(url: string | URL, opts: RequestOptions = {}): Promise<IncomingMessage> {
  const target = new URL(url);
  const connectTimeoutMs = opts.connectTimeoutMs ?? SETTINGS.hubConnectTimeout.default;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  const transport = target.protocol === "https:" ? https : target.protocol === "http:" ? http : null;
  if (!transport) return Promise.reject(new TypeError(`Unsupported URL protocol: ${target.href}`));
  return new Promise((resolve, reject) => {
    const req = transport.request(target, {
      method: opts.method ?? "GET",
      headers: { "user-agent": USER_AGENT, ...opts.headers },
      signal: opts.signal,
    });
    const timer = setTimeout(() => {
      req.destroy(
        new NetworkError(
          target.href,
          "ETIMEDOUT",
          `no response from ${target.origin} within ${connectTimeoutMs} ms`,
        ),
      );
    }, connectTimeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(toNetworkError(err, target.href));
    });
    req.on("response", (res) => {
      clearTimeout(timer);
      res.setTimeout(idleTimeoutMs, () => {
        res.destroy(
          new NetworkError(target.href, "ETIMEDOUT", `${target.origin} stalled for ${idleTimeoutMs} ms`),
        );
      });
      resolve(res);
    });
    req.end();
  });
}

function toNetworkError(err: unknown, url: string): unknown {
  if (err instanceof NetworkError || isAbortError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? "ECONNRESET";
  const reason = err instanceof Error ? err.message : String(err);
  return new NetworkError(url, code, `${new URL(url).origin}: ${reason}`, err);
}

export function isAbortError(err: unknown): boolean {
  return (
    err instanceof Error && (err.name === "AbortError" || (err as { code?: string }).code === "ABORT_ERR")
  );
}

/** GET following redirects; drops `authorization` when the origin changes, as curl does. */
export async function getFollowingRedirects(url: string, opts: RequestOptions): Promise<IncomingMessage> {
  let current = new URL(url);
  const headers = { ...opts.headers };
  for (let hop = 0; ; hop++) {
    const res = await httpRequest(current, { ...opts, headers });
    const location = res.headers.location;
    if (!isRedirect(res.statusCode) || !location) return res;
    res.resume();
    if (hop >= MAX_REDIRECTS)
      throw new NetworkError(url, "ETOOMANYREDIRECTS", `too many redirects from ${url}`);
    const next = new URL(location, current);
    if (next.origin !== current.origin) deleteHeader(headers, "authorization");
    current = next;
  }
}

export function isRedirect(status: number | undefined): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function deleteHeader(headers: Record<string, string>, name: string): void {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) delete headers[key];
}

/** Download `url` to `dest`, resuming `<dest>.part`, verifying, then renaming atomically. */
export async function downloadFile(opts: DownloadFileOptions): Promise<DownloadResult> {
  const { dest, signal } = opts;
  const part = `${dest}.part`;
  const retries = opts.retries ?? 5;
  const expectedSha = opts.sha256?.toLowerCase();
  await mkdir(dirname(dest), { recursive: true });
  const release = await acquireLock(`${dest}.lock`);
  try {
    const progress = new ProgressTracker(opts.onProgress, opts.progressIntervalMs ?? 200);
    // The hash always covers exactly `hashed` bytes of the part; resynced from disk when they differ.
    let hash = createHash("sha256");
    let hashed = 0;
    const syncHash = async (size: number) => {
      if (hashed === size) return;
      hash = createHash("sha256");
      hashed = 0;
      if (size > 0) {
        for await (const chunk of createReadStream(part, { end: size - 1, signal }))
          hash.update(chunk as Buffer);
      }
      hashed = size;
    };

    let total: number | null = opts.expectedSize ?? null;
    let everConnected = false;
    let failures = 0;
    for (;;) {
      signal?.throwIfAborted();
      let offset = await fileSize(part);
      if (opts.expectedSize !== undefined && offset > opts.expectedSize) {
        await rm(part, { force: true });
        offset = 0;
      }
      if (opts.expectedSize !== undefined && offset === opts.expectedSize) break; // complete; no request needed
      const before = offset;
      try {
        const done = await attempt(offset);
        if (done) break;
      } catch (err) {
        if (isAbortError(err) || err instanceof DownloadVerificationError) throw err;
        const madeProgress = (await fileSize(part)) > before;
        failures = madeProgress ? 1 : failures + 1;
        // Failing before any response on the first try means unreachable: fail fast instead of retrying.
        const retryable =
          (err instanceof NetworkError && everConnected) || (err instanceof HttpStatusError && err.retryable);
        if (!retryable || failures > retries) throw err;
        const delay = Math.min((opts.retryDelayMs ?? 1000) * 2 ** (failures - 1), 30_000);
        await sleep(delay, undefined, { signal });
      }
    }

    /** One request from `offset`; true when the part now holds the whole file. */
    async function attempt(offset: number): Promise<boolean> {
      const headers: Record<string, string> = { ...opts.headers };
      if (offset > 0) headers.range = `bytes=${offset}-`;
      const res = await getFollowingRedirects(opts.url, { ...opts, headers });
      everConnected = true;
      let fh: FileHandle | undefined;
      try {
        const status = res.statusCode ?? 0;
        let flags = "a";
        if (status === 416) {
          // Range past the end: the part is complete iff the server's total says so.
          const size = contentRangeTotal(res.headers["content-range"]);
          if (size !== null && size === offset) {
            total = size;
            return true;
          }
          if (offset === 0) throw new HttpStatusError(opts.url, status, res.headers);
          await rm(part, { force: true });
          return false;
        } else if (status === 206) {
          if (contentRangeStart(res.headers["content-range"]) !== offset) {
            // Not the range we asked for: trust nothing and start over without Range.
            await rm(part, { force: true });
            return false;
          }
          total = contentRangeTotal(res.headers["content-range"]) ?? total;
        } else if (status === 200) {
          // A 200 to a Range request means the server sends everything: start the part over.
          flags = "w";
          offset = 0;
          const length = Number(res.headers["content-length"]);
          total = Number.isFinite(length) && res.headers["content-length"] !== undefined ? length : total;
        } else {
          throw new HttpStatusError(opts.url, status, res.headers);
        }
        if (total !== null && opts.expectedSize !== undefined && total !== opts.expectedSize) {
          await rm(part, { force: true });
          throw new DownloadVerificationError(
            `${opts.url} is ${total} bytes but ${opts.expectedSize} were expected; the file changed upstream or the mirror is stale.`,
          );
        }
        await syncHash(offset);
        fh = await open(part, flags);
        progress.start(offset, total);
        const onAbort = () => res.destroy(signal?.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
        const file = fh;
        let diskError: unknown;
        try {
          for await (const chunk of res as AsyncIterable<Buffer>) {
            await file.write(chunk).catch((err: unknown) => {
              diskError = err;
              throw err;
            });
            hash.update(chunk);
            hashed += chunk.length;
            progress.add(chunk.length);
          }
        } catch (err) {
          // A full disk is not a cut connection: only network failures may be retried.
          throw err === diskError ? err : toNetworkError(err, opts.url);
        } finally {
          signal?.removeEventListener("abort", onAbort);
        }
        signal?.throwIfAborted();
        if (total !== null && hashed < total) {
          throw new NetworkError(opts.url, "ECONNRESET", `connection to ${opts.url} closed early`);
        }
        return true;
      } finally {
        await fh?.close();
        res.destroy();
      }
    }

    const size = await fileSize(part);
    await syncHash(size);
    progress.finish(size);
    const fail = async (why: string) => {
      await rm(part, { force: true });
      return new DownloadVerificationError(
        `Download of ${opts.url} failed verification: ${why}. It was deleted.`,
      );
    };
    const expectedSize = opts.expectedSize ?? total;
    if (expectedSize !== null && size !== expectedSize) {
      throw await fail(`size ${size} bytes, expected ${expectedSize}`);
    }
    const magic = opts.magic === undefined ? GGUF_MAGIC : opts.magic;
    if (magic !== null && (size < magic.length || !(await readMagic(part)).startsWith(magic))) {
      throw await fail(magic === GGUF_MAGIC ? "not a GGUF file (bad magic bytes)" : "bad magic bytes");
    }
    const actualSha = hash.digest("hex");
    if (expectedSha && actualSha !== expectedSha) {
      throw await fail(`sha256 ${actualSha}, expected ${expectedSha}`);
    }
    await rename(part, dest);
    return { path: dest, sizeBytes: size, sha256: actualSha };
  } finally {
    await release();
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}

/** The first four bytes of a file as latin1, "" if shorter. */
export async function readMagic(path: string): Promise<string> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 ? buf.toString("latin1") : "";
  } finally {
    await fh.close();
  }
}

function contentRangeStart(header: string | undefined): number | null {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header?.trim() ?? "");
  return m ? Number(m[1]) : null;
}

function contentRangeTotal(header: string | undefined): number | null {
  const m = /\/(\d+)$/.exec(header?.trim() ?? "");
  return m ? Number(m[1]) : null;
}

/**
 * Two processes appending to one `.part` would interleave bytes, so a lock file holds the
 * downloader's pid; a lock whose process is gone is stale and taken over.
 */
async function acquireLock(lockPath: string): Promise<() => Promise<void>> {
  for (let tries = 0; tries < 3; tries++) {
    try {
      const fh = await open(lockPath, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number((await readFile(lockPath, "utf8").catch(() => "")).trim());
      if (pid > 0 && isAlive(pid)) {
        throw new ModelUnavailableError(
          `${lockPath.slice(0, -".lock".length)} is already being downloaded by process ${pid}; wait for it, or delete ${lockPath} if that process is not edgellm.`,
        );
      }
      await rm(lockPath, { force: true });
    }
  }
  throw new ModelUnavailableError(`Could not lock ${lockPath}.`);
}

/** Throttled progress with a rate over a sliding window, so a resumed offset does not inflate it. */
class ProgressTracker {
  private downloaded = 0;
  private total: number | null = null;
  private samples: { t: number; bytes: number }[] = [];
  private lastEmit = 0;
  private sessionBytes = 0;

  constructor(
    private readonly onProgress: ((p: DownloadProgress) => void) | undefined,
    private readonly intervalMs: number,
  ) {}

  start(offset: number, total: number | null): void {
    this.downloaded = offset;
    this.total = total;
    this.emit(true);
  }

  add(bytes: number): void {
    this.downloaded += bytes;
    this.sessionBytes += bytes;
    this.emit(false);
  }

  finish(size: number): void {
    this.downloaded = size;
    this.total = size;
    this.emit(true);
  }

  private emit(force: boolean): void {
    if (!this.onProgress) return;
    const now = performance.now();
    if (!force && now - this.lastEmit < this.intervalMs) return;
    this.lastEmit = now;
    this.samples.push({ t: now, bytes: this.sessionBytes });
    while (this.samples.length > 2 && now - this.samples[0].t > 5000) this.samples.shift();
    const first = this.samples[0];
    const seconds = (now - first.t) / 1000;
    const bytesPerSecond = seconds > 0 ? (this.sessionBytes - first.bytes) / seconds : 0;
    const remaining = this.total === null ? null : Math.max(0, this.total - this.downloaded);
    const etaSeconds =
      remaining === null
        ? null
        : remaining === 0
          ? 0
          : bytesPerSecond > 0
            ? remaining / bytesPerSecond
            : null;
    this.onProgress({ downloadedBytes: this.downloaded, totalBytes: this.total, bytesPerSecond, etaSeconds });
  }
}
