import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LlamaServerChild } from "../../src/engine/llama-server/child.js";
import { EngineRestartingError, InvalidRequestError } from "../../src/provider/errors.js";
import { tempDir } from "./binary-fixtures.js";

/**
 * A stand-in llama-server (a Node script): listens where the child manager expects, checks the key, and answers
 * POSTs by path: /ok echoes the body, /bad is llama-server's 400, /fail a 500, /drop closes the first
 * connection without an answer and answers the second, /gone always closes. GET /calls counts the POSTs.
 */
const STAND_IN = `#!${process.execPath}
let calls = 0;
const sockets = [];
const seen = {};
const server = require("node:http").createServer((req, res) => {
  if (req.headers.authorization !== "Bearer " + process.env.LLAMA_API_KEY) return res.writeHead(401).end();
  if (req.method === "GET")
    return res.writeHead(200).end(req.url === "/calls" ? String(calls) : req.url === "/sockets" ? JSON.stringify(sockets) : "");
  calls++;
  sockets.push(req.socket.remotePort + " " + req.headers.connection);
  seen[req.url] = (seen[req.url] ?? 0) + 1;
  let body = "";
  req.on("data", (c) => (body += c)).on("end", () => {
    if (req.url === "/ok") return res.writeHead(200, { "content-type": "application/json" }).end(body);
    if (req.url === "/bad")
      return res.writeHead(400).end(JSON.stringify({ error: { code: 400, message: "the prompt is too long", type: "invalid_request_error" } }));
    if (req.url === "/fail") return res.writeHead(500).end("boom");
    if (req.url === "/gone" || (req.url === "/drop" && seen[req.url] === 1)) return req.socket.destroy();
    res.writeHead(200).end("second try");
  });
});
server.listen(0, "127.0.0.1", () => console.log("main: server is listening on http://127.0.0.1:" + server.address().port));
`;

describe("the llama-server child's POST", () => {
  let child: LlamaServerChild;
  const post = (path: string, body = "{}") => child.post(path, body, new AbortController().signal);
  const calls = async () => Number(await (await fetch(`${child.url}/calls`, auth())).text());
  const auth = () => ({ headers: { authorization: `Bearer ${child.key}` } });

  before(async () => {
    const dir = await tempDir("edgellm-child-");
    const binary = join(dir, "llama-server");
    await writeFile(binary, STAND_IN);
    await chmod(binary, 0o755);
    child = new LlamaServerChild({ binary, args: [], name: "the test engine", restartWaitMs: 5_000 });
    await child.start();
  });
  after(async () => {
    await child?.stop();
  });

  it("sends the body with the child's key and hands back a 2xx answer", async () => {
    const response = await post("/ok", '{"prompt":"hi"}');
    assert.deepEqual(await response.json(), { prompt: "hi" });
  });

  it("each request has a connection of its own (no pooled one the child may have closed)", async () => {
    const before = JSON.parse(await (await fetch(`${child.url}/sockets`, auth())).text()) as string[];
    for (let i = 0; i < 3; i++) await (await post("/ok")).text();
    const sockets = (
      JSON.parse(await (await fetch(`${child.url}/sockets`, auth())).text()) as string[]
    ).slice(before.length);
    assert.equal(sockets.length, 3);
    assert.equal(new Set(sockets).size, 3, sockets.join(", "));
    assert.ok(
      sockets.every((s) => s.endsWith(" close")),
      sockets.join(", "),
    );
  });

  it("a 400 is the request's fault and keeps llama-server's message; any other status is a 503", async () => {
    await assert.rejects(post("/bad"), (error: unknown) => {
      assert.ok(error instanceof InvalidRequestError);
      assert.equal(error.message, "llama-server refused the request: the prompt is too long");
      return true;
    });
    await assert.rejects(post("/fail"), (error: unknown) => {
      assert.ok(error instanceof EngineRestartingError);
      assert.equal(error.status, 503);
      assert.match(error.message, /llama-server answered 500: boom/);
      return true;
    });
  });

  it("a request that got no answer is sent once more, and only once", async () => {
    const before = await calls();
    assert.equal(await (await post("/drop")).text(), "second try");
    assert.equal((await calls()) - before, 2);

    const again = await calls();
    await assert.rejects(post("/gone"), (error: unknown) => {
      assert.ok(error instanceof EngineRestartingError);
      // undici's reason under "fetch failed" is kept, so the log says why.
      assert.match(error.message, /^the test engine did not answer \(fetch failed: .+\)$/);
      return true;
    });
    assert.equal((await calls()) - again, 2);
  });

  it("an aborted request is not sent again", async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      child.post("/ok", "{}", controller.signal),
      (error: unknown) => (error as Error).name === "AbortError",
    );
  });

  it("a stopped child fails requests with 503 naming it, without waiting", async () => {
    await child.stop();
    await assert.rejects(post("/ok"), (error: unknown) => {
      assert.ok(error instanceof EngineRestartingError);
      assert.match(error.message, /^the test engine is restarting/);
      return true;
    });
  });
});
