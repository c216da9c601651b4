import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type DownloadProgress, downloadFile, NetworkError } from "../../src/models/download.js";
import { DownloadVerificationError, ModelUnavailableError } from "../../src/provider/errors.js";
import { fakeGguf } from "../helpers/fake-gguf.js";

const DATA = fakeGguf(3 * 1024 * 1024, 7);
const SHA = createHash("sha256").update(DATA).digest("hex");

interface Served {
  url: string;
  requests: { method: string; url: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void;

async function serve(handler: Handler): Promise<Served> {
  const requests: Served["requests"] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    handler(req, res, requests.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serve `data` honouring Range unless told otherwise; `cutAfter` destroys the socket after that many body bytes. */
function sendBytes(
  req: IncomingMessage,
  res: ServerResponse,
  data: Buffer,
  opts: { ignoreRange?: boolean; cutAfter?: number; stallAfter?: number } = {},
): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  let start = 0;
  if (range && !opts.ignoreRange) {
    start = Number(range[1]);
    if (start >= data.length) {
      res.writeHead(416, { "content-range": `bytes */${data.length}` }).end();
      return;
    }
    res.writeHead(206, {
      "content-range": `bytes ${start}-${data.length - 1}/${data.length}`,
      "content-length": data.length - start,
    });
  } else {
    res.writeHead(200, { "content-length": data.length });
  }
  const body = data.subarray(start);
  if (opts.cutAfter !== undefined) {
    res.write(body.subarray(0, opts.cutAfter), () => res.socket?.destroy());
  } else if (opts.stallAfter !== undefined) {
    res.write(body.subarray(0, opts.stallAfter)); // and never end
  } else {
    res.end(body);
  }
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "edgellm-download-"));
}

async function closedPortUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/model.gguf`;
}

test("downloads, verifies and renames into place; progress is monotonic", async (t) => {
  const server = await serve((req, res) => sendBytes(req, res, DATA));
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "sub", "model.gguf");
  const seen: DownloadProgress[] = [];
  const result = await downloadFile({
    url: `${server.url}/model.gguf`,
    dest,
    expectedSize: DATA.length,
    sha256: SHA.toUpperCase(),
    onProgress: (p) => seen.push(p),
    progressIntervalMs: 0,
  });
  assert.deepEqual(result, { path: dest, sizeBytes: DATA.length, sha256: SHA });
  assert.ok((await readFile(dest)).equals(DATA));
  assert.equal(existsSync(`${dest}.part`), false);
  assert.equal(existsSync(`${dest}.lock`), false);
  assert.ok(seen.length > 2);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].downloadedBytes >= seen[i - 1].downloadedBytes);
  const last = seen.at(-1);
  assert.equal(last?.downloadedBytes, DATA.length);
  assert.equal(last?.totalBytes, DATA.length);
  assert.equal(last?.etaSeconds, 0);
  assert.ok(seen.every((p) => p.bytesPerSecond >= 0 && p.totalBytes === DATA.length));
});

test("resumes with a Range request after the connection is cut mid-body", async (t) => {
  const cutAfter = 1024 * 1024 + 123;
  const server = await serve((req, res, i) => sendBytes(req, res, DATA, i === 0 ? { cutAfter } : {}));
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  const seen: number[] = [];
  await downloadFile({
    url: `${server.url}/model.gguf`,
    dest,
    sha256: SHA,
    retryDelayMs: 10,
    progressIntervalMs: 0,
    onProgress: (p) => seen.push(p.downloadedBytes),
  });
  assert.equal(server.requests.length, 2);
  assert.equal(server.requests[0].headers.range, undefined);
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(server.requests[1].headers.range ?? "")?.[1]);
  assert.ok(resumedAt > 0 && resumedAt <= cutAfter, `resumed at ${resumedAt}`);
  assert.ok((await readFile(dest)).equals(DATA));
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1]);
});

test("resumes a .part left by an earlier run, hashing the existing bytes first", async (t) => {
  const server = await serve((req, res) => sendBytes(req, res, DATA));
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  const half = 1_500_000;
  await writeFile(`${dest}.part`, DATA.subarray(0, half));
  await downloadFile({ url: `${server.url}/model.gguf`, dest, expectedSize: DATA.length, sha256: SHA });
  assert.equal(server.requests.length, 1);
  assert.equal(server.requests[0].headers.range, `bytes=${half}-`);
  assert.ok((await readFile(dest)).equals(DATA));
});

test("starts over when the server ignores Range and answers 200", async (t) => {
  const server = await serve((req, res) => sendBytes(req, res, DATA, { ignoreRange: true }));
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  // Garbage in the part proves it was discarded rather than appended to.
  await writeFile(`${dest}.part`, Buffer.alloc(500_000, 0xab));
  await downloadFile({ url: `${server.url}/model.gguf`, dest, sha256: SHA });
  assert.equal(server.requests[0].headers.range, "bytes=500000-");
  assert.ok((await readFile(dest)).equals(DATA));
});

test("a complete .part answered with 416 is verified and moved into place", async (t) => {
  const server = await serve((req, res) => sendBytes(req, res, DATA));
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  await writeFile(`${dest}.part`, DATA);
  const result = await downloadFile({ url: `${server.url}/model.gguf`, dest, sha256: SHA });
  assert.equal(result.sizeBytes, DATA.length);
  assert.equal(server.requests[0].headers.range, `bytes=${DATA.length}-`);
  assert.ok((await readFile(dest)).equals(DATA));
});

test("a complete .part with a known size needs no request at all", async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dest = join(dir, "model.gguf");
  await writeFile(`${dest}.part`, DATA);
  await downloadFile({ url: await closedPortUrl(), dest, expectedSize: DATA.length, sha256: SHA });
  assert.ok((await readFile(dest)).equals(DATA));
});

test("a sha256 mismatch deletes the part and leaves no file in place", async (t) => {
  const server = await serve((req, res) => sendBytes(req, res, DATA));
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  await assert.rejects(
    downloadFile({ url: `${server.url}/model.gguf`, dest, sha256: "0".repeat(64) }),
    (err: unknown) => err instanceof DownloadVerificationError && /sha256/.test(err.message),
  );
  assert.equal(existsSync(dest), false);
  assert.equal(existsSync(`${dest}.part`), false);
  assert.equal(existsSync(`${dest}.lock`), false);
});

test("a file without the GGUF magic is rejected", async (t) => {
  const notGguf = Buffer.from(DATA);
  notGguf.write("<htm", 0, "latin1");
  const server = await serve((req, res) => sendBytes(req, res, notGguf));
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  await assert.rejects(
    downloadFile({ url: `${server.url}/model.gguf`, dest }),
    (err: unknown) => err instanceof DownloadVerificationError && /magic/.test(err.message),
  );
  assert.equal(existsSync(dest), false);
  assert.equal(existsSync(`${dest}.part`), false);
});

test("a size other than the expected one is rejected before the body is read", async (t) => {
  const server = await serve((req, res) => sendBytes(req, res, DATA));
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  await assert.rejects(
    downloadFile({ url: `${server.url}/model.gguf`, dest, expectedSize: DATA.length + 1 }),
    DownloadVerificationError,
  );
  assert.equal(existsSync(dest), false);
  assert.equal(existsSync(`${dest}.part`), false);
});

test("follows redirects and drops authorization when the origin changes", async (t) => {
  const cdn = await serve((req, res) => sendBytes(req, res, DATA));
  const hub = await serve((_req, res) => res.writeHead(302, { location: `${cdn.url}/blob?sig=1` }).end());
  const dir = await tempDir();
  t.after(async () => {
    await hub.close();
    await cdn.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  await downloadFile({
    url: `${hub.url}/model.gguf`,
    dest,
    sha256: SHA,
    headers: { Authorization: "Bearer secret" },
  });
  assert.equal(hub.requests[0].headers.authorization, "Bearer secret");
  assert.equal(cdn.requests[0].url, "/blob?sig=1");
  assert.equal(cdn.requests[0].headers.authorization, undefined);
  assert.ok((await readFile(dest)).equals(DATA));
});

test("retries a 503 with backoff", async (t) => {
  const server = await serve((req, res, i) =>
    i === 0 ? res.writeHead(503).end() : sendBytes(req, res, DATA),
  );
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  await downloadFile({ url: `${server.url}/model.gguf`, dest, sha256: SHA, retryDelayMs: 10 });
  assert.equal(server.requests.length, 2);
  assert.ok((await readFile(dest)).equals(DATA));
});

test("an unreachable host fails fast, without retries", async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const started = performance.now();
  await assert.rejects(
    downloadFile({ url: await closedPortUrl(), dest: join(dir, "model.gguf") }),
    (err: unknown) => err instanceof NetworkError && err.code === "ECONNREFUSED",
  );
  assert.ok(performance.now() - started < 2000);
});

test("a server that accepts but never answers times out after connectTimeoutMs", async (t) => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const dir = await tempDir();
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  const { port } = silent.address() as AddressInfo;
  await assert.rejects(
    downloadFile({
      url: `http://127.0.0.1:${port}/m.gguf`,
      dest: join(dir, "m.gguf"),
      connectTimeoutMs: 200,
    }),
    (err: unknown) => err instanceof NetworkError && err.code === "ETIMEDOUT",
  );
});

test("a body that stalls longer than idleTimeoutMs counts as cut and is resumed", async (t) => {
  const server = await serve((req, res, i) =>
    sendBytes(req, res, DATA, i === 0 ? { stallAfter: 700_000 } : {}),
  );
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  await downloadFile({
    url: `${server.url}/model.gguf`,
    dest,
    sha256: SHA,
    idleTimeoutMs: 200,
    retryDelayMs: 10,
  });
  assert.equal(server.requests[1].headers.range, "bytes=700000-");
  assert.ok((await readFile(dest)).equals(DATA));
});

test("abort keeps the partial download for the next run", async (t) => {
  const server = await serve((req, res) => sendBytes(req, res, DATA, { stallAfter: 1024 * 1024 }));
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  const controller = new AbortController();
  await assert.rejects(
    downloadFile({
      url: `${server.url}/model.gguf`,
      dest,
      signal: controller.signal,
      progressIntervalMs: 0,
      onProgress: (p) => {
        if (p.downloadedBytes >= 1024 * 1024) controller.abort();
      },
    }),
    { name: "AbortError" },
  );
  assert.equal(existsSync(dest), false);
  assert.equal((await readFile(`${dest}.part`)).length, 1024 * 1024);
  assert.equal(existsSync(`${dest}.lock`), false);
});

test("a download locked by a live process is refused; a stale lock is taken over", async (t) => {
  const server = await serve((req, res) => sendBytes(req, res, DATA));
  const dir = await tempDir();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dest = join(dir, "model.gguf");
  await writeFile(`${dest}.lock`, String(process.pid));
  await assert.rejects(downloadFile({ url: `${server.url}/model.gguf`, dest }), ModelUnavailableError);
  assert.equal(server.requests.length, 0);
  await writeFile(`${dest}.lock`, "2147483646");
  await downloadFile({ url: `${server.url}/model.gguf`, dest, sha256: SHA });
  assert.ok((await readFile(dest)).equals(DATA));
});
