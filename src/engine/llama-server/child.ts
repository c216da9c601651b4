import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { EngineRestartingError, InvalidRequestError } from "../../provider/errors.js";
import { spawnOptions } from "../binary/version.js";

/** The part of pino's interface the engine uses (Fastify's `app.log` fits). */
export interface EngineLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface LlamaServerChildOptions {
  /** The llama-server binary; it runs in its own folder, with the libraries beside it on the library path. */
  binary: string;
  /** Arguments besides host, port and key (model, context, slots, threads, cache). */
  args: string[];
  /** What the child is called in errors clients see: "the engine", "the embedding engine". */
  name: string;
  /** Longest wait in post() for the child to come back after a crash before a request fails with 503, in ms. Default 30 000. */
  restartWaitMs?: number;
  logger?: EngineLogger;
  /** Longest wait for a start (model load included), in ms. Default 120 000. */
  startTimeoutMs?: number;
  /** How long a stop waits after SIGTERM before SIGKILL, in ms. Default 5 000. */
  stopGraceMs?: number;
  /** Restart delays after unexpected exits, in ms; the last repeats. Default 250, 1 000, 4 000, 15 000. */
  restartDelaysMs?: readonly number[];
  /** A run that lasted this long resets the restart delays, in ms. Default 60 000. */
  stableAfterMs?: number;
}

/** The child is not serving (starting, restarting after a crash, or stopped). */
export class ChildUnavailableError extends Error {}

/**
 * A child's JSON answer read by `schema`, or undefined when it is not that shape; a body cut short (the child
 * died while answering) is an EngineRestartingError naming `name`.
 */
export async function readAnswer<T>(
  response: Response,
  schema: { parse(value: unknown): T },
  name: string,
): Promise<T | undefined> {
  const text = await response.text().catch(() => {
    throw new EngineRestartingError(`${name} stopped while answering; it is restarting`);
  });
  try {
    return schema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * llama.cpp's llama-server as a managed child: bound to 127.0.0.1 on a port it picks, reachable only with a
 * random key (passed in its environment, which other users cannot read, not on its command line, which they
 * can), its log at debug level, restarted with backoff when it dies, stopped with SIGTERM then SIGKILL, and
 * killed by a watchdog when edgellm itself dies without a chance to stop it (SIGKILL, OOM killer).
 */
export class LlamaServerChild {
  readonly key = randomBytes(24).toString("base64url");
  private child?: ChildProcess;
  private watchdog?: ChildProcess;
  /** Base URL of the child while it serves. */
  private serving?: string;
  private starting?: Promise<string>;
  private stopped = false;
  private failures = 0;
  private restartTimer?: NodeJS.Timeout;
  /** Called with the exit's description whenever a running child exits unexpectedly. */
  onCrash?: (why: string) => void;

  constructor(private readonly options: LlamaServerChildOptions) {}

  /** A child started and serving; one that fails to start is stopped (its watchdog too) before the error. */
  static async started(options: LlamaServerChildOptions): Promise<LlamaServerChild> {
    const child = new LlamaServerChild(options);
    try {
      await child.start();
    } catch (error) {
      await child.stop();
      throw error;
    }
    return child;
  }

  /** Base URL of the running child, e.g. http://127.0.0.1:39541; undefined while it is not serving. */
  get url(): string | undefined {
    return this.serving;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the child (once) and resolves with its URL when its /health says the model is loaded. */
  start(): Promise<string> {
    if (this.stopped) return Promise.reject(new ChildUnavailableError("the engine is stopped"));
    this.starting ??= this.launch().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /**
   * The URL of a serving child, waiting for a start or restart in progress (up to `timeoutMs`); throws
   * ChildUnavailableError when none comes.
   */
  async ready(timeoutMs = 30_000): Promise<string> {
    if (this.serving) return this.serving;
    if (this.stopped) throw new ChildUnavailableError("the engine is stopped");
    const waiting = this.starting ?? this.nextStart();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ChildUnavailableError("the engine is restarting")), timeoutMs);
    });
    try {
      return await Promise.race([waiting, timeout]);
    } catch (error) {
      throw error instanceof ChildUnavailableError ? error : new ChildUnavailableError(String(error));
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * POSTs `body` (JSON) to `path` on the serving child, on a connection of its own, and resolves with its answer
   * when that is a 2xx. A child that is down or restarting is waited for (up to `restartWaitMs`); a request that got no
   * answer at all (the child died a moment ago) is sent once more, which is safe because nothing was computed. Throws
   * InvalidRequestError for the child's 400 (the request's fault, its message kept) and EngineRestartingError
   * for everything else (503).
   */
  async post(path: string, body: string, signal: AbortSignal): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let url: string;
      try {
        url = await this.ready(this.options.restartWaitMs ?? 30_000);
      } catch {
        throw new EngineRestartingError(`${this.options.name} is restarting after a failure`);
      }
      let response: Response;
      try {
        response = await fetch(`${url}${path}`, {
          method: "POST",
          // A connection per request: llama-server closes idle keep-alive connections on its own clock, and
          // a pooled one it had just closed fails the request without an answer; with several pooled, the
          // retry could pick a second one (a soak lost 1 request in 2000 so). Loopback connects in microseconds.
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${this.key}`,
            connection: "close",
          },
          body,
          signal,
        });
      } catch (error) {
        signal.throwIfAborted();
        const why = describeFetchError(error);
        this.options.logger?.debug(
          { engine: "llama-server", path, attempt, error: why },
          "llama-server did not answer",
        );
        if (attempt === 0) {
          await this.replaced(url, 250);
          continue;
        }
        throw new EngineRestartingError(`${this.options.name} did not answer (${why})`);
      }
      if (response.ok) return response;
      const text = await response.text().catch(() => "");
      const message =
        (/"message":"([^"]{0,300})/.exec(text)?.[1] ?? text.slice(0, 300)) || `HTTP ${response.status}`;
      if (response.status === 400)
        throw new InvalidRequestError(`llama-server refused the request: ${message}`);
      throw new EngineRestartingError(`llama-server answered ${response.status}: ${message}`);
    }
  }

  /** Whether the child serving at `url` has exited (seen within `ms`), so a new one will take its place. */
  private async replaced(url: string, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.stopped) return false;
      if (this.serving !== url) return true;
      await delay(20);
    }
    return false;
  }

  /** Stops the child for good: SIGTERM, then SIGKILL after the grace period. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    this.serving = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const grace = setTimeout(() => child.kill("SIGKILL"), this.options.stopGraceMs ?? 5_000);
      await exited;
      clearTimeout(grace);
    }
    this.watchdog?.kill("SIGKILL");
  }

  private restartWaiters: ((url: Promise<string>) => void)[] = [];

  /** Resolves with the next start's outcome (a restart scheduled after a crash). */
  private nextStart(): Promise<string> {
    return new Promise<Promise<string>>((resolve) => this.restartWaiters.push(resolve)).then((p) => p);
  }

  private async launch(): Promise<string> {
    const { binary, args } = this.options;
    const log = this.options.logger;
    // In its own folder, with its libraries on the path (spawnOptions says why).
    const { cwd, env } = spawnOptions(binary);
    const child = spawn(binary, ["--host", "127.0.0.1", "--port", "0", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      cwd,
      env: { ...env, LLAMA_API_KEY: this.key },
      // Its own process group: a Ctrl-C in the terminal signals edgellm's group, and edgellm decides when the
      // engine stops (after the drain), not the terminal. The watchdog covers edgellm dying without stopping it.
      detached: true,
    });
    this.child = child;
    const started = Date.now();
    const tail: string[] = [];
    let port: number | undefined;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        port ??= listeningPort(line);
        log?.debug({ engine: "llama-server", pid: child.pid }, line);
      });
    }
    if (child.pid !== undefined) this.watchdog = startWatchdog(child.pid);
    const exited = once(child, "exit").then(([code, signal]) => describeExit(code, signal));
    child.once("exit", () => this.exited(child, started));
    const spawnFailed = once(child, "error").then(
      ([error]) => `could not start: ${(error as Error).message}`,
    );

    const deadline = started + (this.options.startTimeoutMs ?? 120_000);
    const failure = Promise.race([exited, spawnFailed]);
    let failed: string | undefined;
    void failure.then((why) => {
      failed = why;
    });
    while (Date.now() < deadline) {
      if (failed) throw new ChildUnavailableError(`llama-server ${failed}\n${tail.join("\n")}`);
      if (port !== undefined && (await healthy(port, this.key))) {
        this.serving = `http://127.0.0.1:${port}`;
        log?.info({ engine: "llama-server", pid: child.pid, port }, "llama-server is ready");
        return this.serving;
      }
      await Promise.race([failure, delay(50)]);
    }
    child.kill("SIGKILL");
    throw new ChildUnavailableError(`llama-server did not become ready within ${deadline - started} ms`);
  }

  private exited(child: ChildProcess, started: number): void {
    this.watchdog?.kill("SIGKILL");
    if (this.child !== child) return;
    const wasServing = this.serving !== undefined;
    this.serving = undefined;
    if (this.stopped) return;
    const why = describeExit(child.exitCode, child.signalCode);
    if (Date.now() - started > (this.options.stableAfterMs ?? 60_000)) this.failures = 0;
    const delays = this.options.restartDelaysMs ?? [250, 1_000, 4_000, 15_000];
    const wait = delays[Math.min(this.failures, delays.length - 1)];
    this.failures++;
    this.options.logger?.warn(
      { engine: "llama-server", pid: child.pid, exit: why, restartInMs: wait },
      `llama-server ${why}; restarting`,
    );
    if (wasServing) this.onCrash?.(why);
    this.restartTimer = setTimeout(() => {
      const next = this.start();
      next.catch(() => {}); // a failed restart schedules the next one through exited()
      for (const waiter of this.restartWaiters.splice(0)) waiter(next);
    }, wait);
  }
}

/** fetch's "fetch failed" with what undici says underneath (e.g. "other side closed", ECONNRESET). */
function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  const detail = [cause?.message, cause?.code].filter(Boolean).join(", ");
  return detail ? `${(error as Error).message}: ${detail}` : (error as Error).message;
}

/** The port from llama-server's "listening on http://127.0.0.1:PORT" line. */
export function listeningPort(line: string): number | undefined {
  const match = /listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(line);
  return match ? Number(match[1]) : undefined;
}

async function healthy(port: number, key: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, {
      headers: { authorization: `Bearer ${key}` },
      signal: AbortSignal.timeout(2_000),
    });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A tiny shell that kills `pid` when its stdin reaches end of file, which happens when the process holding
 * the other end (edgellm) is gone however it died. Node cannot ask the kernel for a parent-death signal;
 * llama-server never reads stdin, so it cannot watch for us itself. The pipe's write end is close-on-exec,
 * so llama-server does not hold it open.
 */
function startWatchdog(pid: number): ChildProcess {
  const watchdog = spawn("/bin/sh", ["-c", `while read -r _; do :; done; kill -KILL ${pid} 2>/dev/null`], {
    stdio: ["pipe", "ignore", "ignore"],
  });
  watchdog.on("error", () => {}); // no /bin/sh (Windows): no watchdog
  watchdog.unref();
  return watchdog;
}
