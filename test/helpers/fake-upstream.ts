import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";

/** What the scripted upstream does with one request. */
export type Behaviour =
  | { kind: "ok"; text?: string; delayMs?: number; usage?: boolean }
  | { kind: "status"; status: number; headers?: Record<string, string>; code?: string }
  /** Answers headers and a few chunks, then destroys the connection. */
  | { kind: "die-mid-stream"; chunks?: number }
  /** Accepts the connection and never answers. */
  | { kind: "hang" }
  /** Sends 200 and SSE headers, then nothing. */
  | { kind: "headers-only" }
  /** Sends a few chunks of text, then nothing, keeping the connection open. */
  | { kind: "stall-mid-stream"; chunks?: number }
  /** Answers `status` with an error whose message echoes the Authorization header and the request body. */
  | { kind: "echo"; status: number }
  /** Sends a few chunks of text, then an error event echoing the Authorization header and the body. */
  | { kind: "echo-mid-stream"; chunks?: number }
  /** Sends a few chunks of text, then one whose content is a number, which no OpenAI chunk has. */
  | { kind: "malformed"; chunks?: number }
  /** Calls the tool `name`, its JSON arguments sent in two fragments, and finishes with "tool_calls". */
  | { kind: "tool-call"; name: string; arguments: string };

/**
 * A small OpenAI-compatible upstream on loopback, scripted per request, for failures a real server
 * will not produce on demand (500, 429, hanging, dying mid-stream). It records every request body.
 */
export class FakeUpstream {
  readonly requests: { path: string; body: Record<string, unknown>; authorization?: string }[] = [];
  /** Behaviour for the next requests, in order; the last one repeats. */
  script: Behaviour[] = [{ kind: "ok" }];
  /** The ids GET /v1/models lists; undefined answers it 404, as some proxies do. */
  models?: string[];
  /** Fields every entry of GET /v1/models carries besides its id (e.g. vLLM's `max_model_len`). */
  modelFields: Record<string, unknown> = {};
  private server?: Server;
  private readonly sockets = new Set<import("node:net").Socket>();

  get url(): string {
    if (!this.server) throw new Error("FakeUpstream is not started");
    const port = (this.server.address() as AddressInfo).port;
    return `http://127.0.0.1:${port}/v1`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server?.close();
    if (this.server?.listening) await once(this.server, "close");
  }

  private next(): Behaviour {
    const index = Math.min(this.requests.length - 1, this.script.length - 1);
    return this.script[Math.max(0, index)];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === "GET" && req.url === "/v1/models" && this.models) {
      const data = this.models.map((id) => ({
        id,
        object: "model",
        created: 1,
        owned_by: "fake",
        ...this.modelFields,
      }));
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ object: "list", data }));
      return;
    }
    if (req.method === "GET") {
      res.writeHead(req.url === "/health" ? 200 : 404, { "content-type": "application/json" }).end("{}");
      return;
    }
    let raw = "";
    for await (const chunk of req) raw += chunk;
    this.requests.push({
      path: req.url ?? "",
      body: JSON.parse(raw),
      authorization: req.headers.authorization,
    });
    const behaviour = this.next();
    if (behaviour.kind === "hang") return;
    const echo = `rejected Authorization: ${req.headers.authorization} for body ${raw}`;
    if (behaviour.kind === "echo") {
      res.writeHead(behaviour.status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: echo, type: "invalid_request_error" } }));
      return;
    }
    if (behaviour.kind === "status") {
      res.writeHead(behaviour.status, { "content-type": "application/json", ...behaviour.headers });
      const error = { message: `scripted ${behaviour.status}`, type: "server_error", code: behaviour.code };
      res.end(JSON.stringify({ error }));
      return;
    }
    const model = "fake-cloud-model";
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      `data: ${JSON.stringify({
        id: "chatcmpl-fake",
        object: "chat.completion.chunk",
        created: 1,
        model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      })}\n\n`;
    if (behaviour.kind === "ok" && behaviour.delayMs)
      await new Promise((r) => setTimeout(r, behaviour.delayMs));
    if (res.destroyed) return;
    res.writeHead(200, { "content-type": "text/event-stream" });
    if (behaviour.kind === "headers-only") {
      res.flushHeaders();
      return;
    }
    res.write(chunk({ role: "assistant", content: "" }));
    if (behaviour.kind === "stall-mid-stream" || behaviour.kind === "echo-mid-stream") {
      for (let i = 0; i < (behaviour.chunks ?? 2); i++) res.write(chunk({ content: `part${i} ` }));
      if (behaviour.kind === "echo-mid-stream")
        res.end(`data: ${JSON.stringify({ error: { message: echo, type: "server_error" } })}\n\n`);
      return;
    }
    if (behaviour.kind === "malformed") {
      for (let i = 0; i < (behaviour.chunks ?? 2); i++) res.write(chunk({ content: `part${i} ` }));
      res.end(chunk({ content: 42 }));
      return;
    }
    if (behaviour.kind === "die-mid-stream") {
      for (let i = 0; i < (behaviour.chunks ?? 2); i++) res.write(chunk({ content: `part${i} ` }));
      await new Promise((r) => setTimeout(r, 20));
      res.socket?.destroy();
      return;
    }
    if (behaviour.kind === "tool-call") {
      const half = Math.floor(behaviour.arguments.length / 2);
      const call = (fields: Record<string, unknown>) => chunk({ tool_calls: [{ index: 0, ...fields }] });
      res.write(
        call({ id: "call_fake", type: "function", function: { name: behaviour.name, arguments: "" } }),
      );
      res.write(call({ function: { arguments: behaviour.arguments.slice(0, half) } }));
      res.write(call({ function: { arguments: behaviour.arguments.slice(half) } }));
      res.end(`${chunk({}, "tool_calls")}data: [DONE]\n\n`);
      return;
    }
    const words = (behaviour.text ?? "Hello from the cloud.").split(/(?<= )/);
    for (const word of words) res.write(chunk({ content: word }));
    res.write(chunk({}, "stop"));
    if (behaviour.usage !== false) {
      res.write(
        `data: ${JSON.stringify({
          id: "chatcmpl-fake",
          object: "chat.completion.chunk",
          created: 1,
          model,
          choices: [],
          usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 },
        })}\n\n`,
      );
    }
    res.end("data: [DONE]\n\n");
  }
}

/**
 * A loopback address where a new connection never completes: a child process listens with a backlog
 * of one and never accepts (its event loop is blocked), and the accept queue is filled, so the kernel
 * drops further SYNs. For connect timeouts; Linux behaviour.
 */
export async function startBlackhole(): Promise<{ url: string; stop: () => Promise<void> }> {
  const script = `const s = require("node:net").createServer();
s.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
  process.stdout.write(s.address().port + "\\n");
  setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 50);
});`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(child.stdout, "data")) as [Buffer];
  const port = Number(String(line).trim());
  await new Promise((r) => setTimeout(r, 150)); // until the child is blocked
  const fillers: Socket[] = [];
  // Fill the accept queue until a connection no longer completes.
  for (let i = 0; i < 16; i++) {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    fillers.push(socket);
    const connected = await Promise.race([
      once(socket, "connect").then(() => true),
      new Promise((r) => setTimeout(() => r(false), 300)),
    ]);
    if (!connected) break;
    if (i === 15) throw new Error("the blackhole's accept queue never filled");
  }
  return {
    url: `http://127.0.0.1:${port}/v1`,
    async stop() {
      for (const socket of fillers) socket.destroy();
      child.kill("SIGKILL");
      if (child.exitCode === null && child.signalCode === null) await once(child, "exit");
    },
  };
}

/** A loopback port with nothing listening: connections are refused. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  server.close();
  await once(server, "close");
  return `http://127.0.0.1:${port}/v1`;
}
