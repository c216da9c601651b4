import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";

/** Keep-alive connection pools for one upstream replica; `destroy()` closes them. */
export class ConnectionPool {
  readonly http = new http.Agent({ keepAlive: true });
  readonly https = new https.Agent({ keepAlive: true });

  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

export interface HttpFetchOptions {
  pool: ConnectionPool;
  /** Longest wait for a new connection (DNS, TCP and TLS), in ms. Reused connections skip it. */
  connectTimeoutMs: number;
  /**
   * Called when a new connection is not up within `connectTimeoutMs`, before the request is destroyed,
   * so the caller can abort with a reason of its own: the openai SDK turns errors thrown by `fetch`
   * into connection errors and drops most of what they say.
   */
  onConnectTimeout: () => void;
}

// Response bodies are not allowed for these statuses (the Fetch standard's null-body statuses).
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch` over node:http(s) for the openai SDK, for one thing Node's built-in fetch cannot do: a
 * connect timeout of our own (undici's `connect.timeout` needs the undici package's Agent, which
 * Node does not expose). Enough of fetch for the SDK's JSON requests: string or byte bodies,
 * streamed responses, AbortSignal. No `accept-encoding` is sent, so bodies arrive uncompressed.
 */
export function httpFetch(options: HttpFetchOptions): typeof fetch {
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const tls = url.protocol === "https:";
      const body = init.body;
      if (body != null && typeof body !== "string" && !(body instanceof Uint8Array)) {
        reject(new TypeError("httpFetch sends only string or byte bodies"));
        return;
      }
      const headers: Record<string, string> = Object.fromEntries(new Headers(init.headers));
      if (body != null) headers["content-length"] = String(Buffer.byteLength(body));
      const request = (tls ? https : http).request(url, {
        method: init.method ?? "GET",
        headers,
        agent: tls ? options.pool.https : options.pool.http,
        signal: init.signal ?? undefined,
      });
      request.once("socket", (socket) => {
        if (request.reusedSocket) return;
        const timer = setTimeout(() => {
          options.onConnectTimeout();
          request.destroy(new Error(`no connection within ${options.connectTimeoutMs} ms`));
        }, options.connectTimeoutMs);
        const clear = () => clearTimeout(timer);
        socket.once(tls ? "secureConnect" : "connect", clear);
        request.once("close", clear);
      });
      // Errors after the response has begun reach its body stream; rejecting again is a no-op.
      request.on("error", reject);
      request.once("response", (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 599) {
          res.destroy();
          reject(new Error(`unexpected HTTP status ${status}`));
          return;
        }
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : [value ?? ""]) responseHeaders.append(name, v);
        }
        const stream = NULL_BODY.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        if (!stream) res.resume().on("error", () => {});
        resolve(new Response(stream, { status, statusText: res.statusMessage, headers: responseHeaders }));
      });
      request.end(body ?? undefined);
    });
}
