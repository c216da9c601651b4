import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import {
  DEFAULT_MODEL,
  ensureModel,
  isLocalModelPath,
  listModels,
  modelCachePath,
  modelsDir,
  parseModelRef,
} from "../../src/models/registry.js";
import {
  DownloadVerificationError,
  InvalidRequestError,
  ModelUnavailableError,
} from "../../src/provider/errors.js";
import { fakeGguf } from "../helpers/fake-gguf.js";

const HF_REPO = "Qwen/Qwen2.5-0.5B-Instruct-GGUF";
const MS_REPO = "qwen/Qwen2.5-0.5B-Instruct-GGUF";
const FILE = "qwen2.5-0.5b-instruct-q4_k_m.gguf";

const DATA = fakeGguf(2 * 1024 * 1024, 11);
const SHA = createHash("sha256").update(DATA).digest("hex");

interface HubOptions {
  /** sha256 the hub advertises; default the real one. */
  sha256?: string;
  /** ModelScope's file API answers 500. */
  modelScopeApiFails?: boolean;
}

interface Hub {
  url: string;
  requests: { method: string; path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** Imitates Hugging Face (resolve -> 302 to a CDN, x-linked-* headers) and ModelScope (files API + resolve). */
async function startHub(opts: HubOptions = {}): Promise<Hub> {
  const requests: Hub["requests"] = [];
  const sha = opts.sha256 ?? SHA;
  const server = http.createServer((req, res) => {
    const path = req.url ?? "";
    requests.push({ method: req.method ?? "", path, headers: req.headers });
    if (path === `/${HF_REPO}/resolve/main/${FILE}`) {
      res
        .writeHead(302, {
          location: `/cdn/blobs/${sha}?signature=x`,
          "x-linked-size": String(DATA.length),
          "x-linked-etag": `"${sha}"`,
          etag: `W/"not-the-sha"`,
        })
        .end();
    } else if (path.startsWith("/cdn/blobs/") || path === `/models/${MS_REPO}/resolve/master/${FILE}`) {
      sendBytes(req, res, DATA);
    } else if (path.startsWith(`/api/v1/models/${MS_REPO}/repo/files?`)) {
      if (opts.modelScopeApiFails) {
        res.writeHead(500).end("oops");
        return;
      }
      const body = {
        Code: 200,
        Data: {
          Files: [
            { Name: "README.md", Path: "README.md", Size: 10, Sha256: "ab" },
            { Name: FILE, Path: FILE, Size: DATA.length, Sha256: sha },
          ],
        },
      };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    } else {
      res.writeHead(404, { "x-error-code": "EntryNotFound" }).end("Entry not found");
    }
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

function sendBytes(req: IncomingMessage, res: ServerResponse, data: Buffer): void {
  if (req.method === "HEAD") {
    res.writeHead(200, { "content-length": data.length }).end();
    return;
  }
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  const start = range ? Number(range[1]) : 0;
  if (range) {
    res.writeHead(206, {
      "content-range": `bytes ${start}-${data.length - 1}/${data.length}`,
      "content-length": data.length - start,
    });
  } else {
    res.writeHead(200, { "content-length": data.length });
  }
  res.end(data.subarray(start));
}

async function tempHome(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), "edgellm-home-"));
  t.after(() => rm(home, { recursive: true, force: true }));
  return home;
}

async function closedPortUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

test("parseModelRef accepts catalog names with an optional, case-insensitive quant", () => {
  const ref = parseModelRef("qwen2.5-0.5b-instruct");
  assert.deepEqual(ref, {
    ref: DEFAULT_MODEL,
    repo: HF_REPO,
    file: FILE,
    modelScopeRepo: MS_REPO,
    catalog: { name: "qwen2.5-0.5b-instruct", quant: "q4_k_m" },
  });
  assert.equal(parseModelRef(DEFAULT_MODEL).ref, DEFAULT_MODEL);
  const q8 = parseModelRef("  Qwen2.5-0.5B-Instruct:Q8_0 ");
  assert.equal(q8.ref, "qwen2.5-0.5b-instruct:q8_0");
  assert.equal(q8.file, "qwen2.5-0.5b-instruct-q8_0.gguf");
  const big = parseModelRef("qwen2.5-1.5b-instruct:fp16");
  assert.equal(big.repo, "Qwen/Qwen2.5-1.5B-Instruct-GGUF");
  assert.equal(big.file, "qwen2.5-1.5b-instruct-fp16.gguf");
});

test("parseModelRef accepts Hugging Face repo files, with or without hf:", () => {
  assert.deepEqual(
    parseModelRef("hf:bartowski/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct-Q4_K_M.gguf"),
    {
      ref: "hf:bartowski/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct-Q4_K_M.gguf",
      repo: "bartowski/SmolLM2-135M-Instruct-GGUF",
      file: "SmolLM2-135M-Instruct-Q4_K_M.gguf",
      modelScopeRepo: "bartowski/SmolLM2-135M-Instruct-GGUF",
    },
  );
  const nested = parseModelRef("owner/repo/Q4_K_M/model.gguf");
  assert.equal(nested.ref, "hf:owner/repo/Q4_K_M/model.gguf");
  assert.equal(nested.file, "Q4_K_M/model.gguf");
  // A catalog file spelled as a repo path is the same model, so it shares the cache entry.
  assert.equal(parseModelRef(`${HF_REPO}/${FILE}`).ref, DEFAULT_MODEL);
});

test("parseModelRef rejects anything else, saying what is accepted", () => {
  for (const bad of [
    "",
    "llama3",
    "qwen2.5-0.5b-instruct:q9_k",
    "qwen2.5-0.5b-instruct:q4_k_m:x",
    "owner/file.gguf",
    "owner/repo/file.bin",
    "owner/../x/file.gguf",
    "owner/repo/../file.gguf",
    "https://example.com/a/b.gguf",
  ]) {
    assert.throws(
      () => parseModelRef(bad),
      (err: unknown) =>
        err instanceof InvalidRequestError &&
        err.field === "model" &&
        err.message.includes("name[:quant]") &&
        err.message.includes("hf:owner/repo/file.gguf") &&
        err.message.includes("q4_k_m"),
      bad,
    );
  }
});

test("isLocalModelPath tells files on disk from hub refs", () => {
  for (const local of [
    "./m.gguf",
    "../m.gguf",
    "/abs/m.gguf",
    "~/m.gguf",
    "m.gguf",
    "models/m.gguf",
    "C:\\m.gguf",
  ]) {
    assert.equal(isLocalModelPath(local), true, local);
  }
  for (const remote of [DEFAULT_MODEL, "owner/repo/m.gguf", "hf:owner/repo/m.gguf", "hf:x.gguf"]) {
    assert.equal(isLocalModelPath(remote), false, remote);
  }
});

test("the cache is <home>/models/<owner>/<repo>/<file>", () => {
  assert.equal(modelsDir("/h"), join("/h", "models"));
  assert.equal(
    modelCachePath(DEFAULT_MODEL, { home: "/h" }),
    join("/h", "models", "Qwen", "Qwen2.5-0.5B-Instruct-GGUF", FILE),
  );
  assert.equal(modelCachePath("a/b/c/d.gguf", { home: "/h" }), join("/h", "models", "a", "b", "c", "d.gguf"));
});

test("listModels lists complete models only, never .part files", async (t) => {
  const home = await tempHome(t);
  assert.deepEqual(await listModels({ home }), []);
  const complete = modelCachePath(DEFAULT_MODEL, { home });
  const other = modelCachePath("hf:someone/tiny-GGUF/tiny.gguf", { home });
  await mkdir(dirname(complete), { recursive: true });
  await mkdir(dirname(other), { recursive: true });
  await writeFile(complete, DATA);
  await writeFile(other, DATA.subarray(0, 100));
  await writeFile(`${modelCachePath("qwen2.5-0.5b-instruct:q8_0", { home })}.part`, DATA.subarray(0, 10));
  const models = await listModels({ home });
  assert.deepEqual(
    models.map((m) => [m.ref, m.path, m.sizeBytes]),
    [
      ["hf:someone/tiny-GGUF/tiny.gguf", other, 100],
      [DEFAULT_MODEL, complete, DATA.length],
    ],
  );
  assert.ok(models.every((m) => m.modifiedAt instanceof Date));
});

test("ensureModel downloads from a Hugging Face endpoint (HEAD metadata, redirect) and then uses the cache", async (t) => {
  const hub = await startHub();
  t.after(() => hub.close());
  const home = await tempHome(t);
  let progressCalls = 0;
  const path = await ensureModel(DEFAULT_MODEL, {
    home,
    source: "huggingface",
    hfEndpoint: `${hub.url}/`,
    hfToken: "hf_secret",
    onProgress: () => progressCalls++,
  });
  assert.equal(path, modelCachePath(DEFAULT_MODEL, { home }));
  assert.ok((await readFile(path)).equals(DATA));
  assert.ok(progressCalls > 0);
  assert.deepEqual(
    hub.requests.map((r) => `${r.method} ${r.path}`),
    [
      `HEAD /${HF_REPO}/resolve/main/${FILE}`,
      `GET /${HF_REPO}/resolve/main/${FILE}`,
      `GET /cdn/blobs/${SHA}?signature=x`,
    ],
  );
  assert.equal(hub.requests[0].headers.authorization, "Bearer hf_secret");

  const again = await ensureModel("qwen2.5-0.5b-instruct", {
    home,
    source: "huggingface",
    hfEndpoint: hub.url,
  });
  assert.equal(again, path);
  assert.equal(hub.requests.length, 3, "a cached model needs no request");
  assert.deepEqual(
    (await listModels({ home })).map((m) => m.ref),
    [DEFAULT_MODEL],
  );
});

test("concurrent ensureModel calls for one model share one download", async (t) => {
  const hub = await startHub();
  t.after(() => hub.close());
  const home = await tempHome(t);
  const opts = { home, source: "huggingface" as const, hfEndpoint: hub.url };
  const [a, b] = await Promise.all([ensureModel(DEFAULT_MODEL, opts), ensureModel(DEFAULT_MODEL, opts)]);
  assert.equal(a, b);
  assert.equal(hub.requests.filter((r) => r.path.startsWith("/cdn/")).length, 1);
});

test("ensureModel downloads from ModelScope, verifying against its files API", async (t) => {
  const hub = await startHub();
  t.after(() => hub.close());
  const home = await tempHome(t);
  const path = await ensureModel(DEFAULT_MODEL, { home, source: "modelscope", modelscopeEndpoint: hub.url });
  assert.equal(path, modelCachePath(DEFAULT_MODEL, { home }), "same cache entry whichever hub");
  assert.ok((await readFile(path)).equals(DATA));
  assert.deepEqual(
    hub.requests.map((r) => `${r.method} ${r.path}`),
    [
      `GET /api/v1/models/${MS_REPO}/repo/files?Revision=master&Recursive=true`,
      `GET /models/${MS_REPO}/resolve/master/${FILE}`,
    ],
  );
});

test("ModelScope: a failing files API still downloads (size and magic checks only)", async (t) => {
  const hub = await startHub({ modelScopeApiFails: true });
  t.after(() => hub.close());
  const home = await tempHome(t);
  const path = await ensureModel(DEFAULT_MODEL, { home, source: "modelscope", modelscopeEndpoint: hub.url });
  assert.ok((await readFile(path)).equals(DATA));
});

test("ModelScope: a wrong sha256 from the files API is caught", async (t) => {
  const hub = await startHub({ sha256: "f".repeat(64) });
  t.after(() => hub.close());
  const home = await tempHome(t);
  await assert.rejects(
    ensureModel(DEFAULT_MODEL, { home, source: "modelscope", modelscopeEndpoint: hub.url }),
    DownloadVerificationError,
  );
  assert.deepEqual(await listModels({ home }), []);
});

test("a sha256 mismatch leaves nothing that listModels or ensureModel would take for a model", async (t) => {
  const hub = await startHub({ sha256: "0".repeat(64) });
  t.after(() => hub.close());
  const home = await tempHome(t);
  const dest = modelCachePath(DEFAULT_MODEL, { home });
  await assert.rejects(
    ensureModel(DEFAULT_MODEL, { home, source: "huggingface", hfEndpoint: hub.url }),
    (err: unknown) => err instanceof DownloadVerificationError && /sha256/.test(err.message),
  );
  assert.equal(existsSync(dest), false);
  assert.equal(existsSync(`${dest}.part`), false);
  assert.deepEqual(await listModels({ home }), []);
  await assert.rejects(ensureModel(DEFAULT_MODEL, { home, offline: true }), ModelUnavailableError);
});

test("an unreachable hub gives one clear error naming --model, edgellm pull and the mirrors", async (t) => {
  const home = await tempHome(t);
  const closed = await closedPortUrl();
  for (const opts of [
    { source: "huggingface" as const, hfEndpoint: closed },
    { source: "modelscope" as const, modelscopeEndpoint: closed },
  ]) {
    const started = performance.now();
    await assert.rejects(ensureModel(DEFAULT_MODEL, { home, ...opts }), (err: unknown) => {
      assert.ok(err instanceof ModelUnavailableError);
      assert.equal(err.code, "model_unavailable");
      assert.match(err.message, /unreachable \(ECONNREFUSED\)/);
      assert.ok(err.message.includes(closed));
      assert.ok(err.message.includes("--model ./file.gguf"));
      assert.ok(err.message.includes(`edgellm pull ${DEFAULT_MODEL}`));
      assert.ok(err.message.includes(modelCachePath(DEFAULT_MODEL, { home })));
      assert.ok(err.message.includes("HF_ENDPOINT=https://hf-mirror.com"));
      const other = opts.source === "huggingface" ? "modelscope" : "huggingface";
      assert.ok(err.message.includes(`EDGELLM_MODEL_SOURCE=${other}`));
      return true;
    });
    assert.ok(performance.now() - started < 2000, "fails fast");
  }
  assert.deepEqual(await listModels({ home }), []);
});

test("offline mode never touches the network", async (t) => {
  const hub = await startHub();
  t.after(() => hub.close());
  const home = await tempHome(t);
  await assert.rejects(
    ensureModel(DEFAULT_MODEL, { home, offline: true, hfEndpoint: hub.url }),
    (err: unknown) =>
      err instanceof ModelUnavailableError && /offline/.test(err.message) && /edgellm pull/.test(err.message),
  );
  assert.equal(hub.requests.length, 0);
});

test("a file missing on the hub is reported as not found", async (t) => {
  const hub = await startHub();
  t.after(() => hub.close());
  const home = await tempHome(t);
  await assert.rejects(
    ensureModel("qwen2.5-0.5b-instruct:q2_k", { home, source: "huggingface", hfEndpoint: hub.url }),
    (err: unknown) => err instanceof ModelUnavailableError && /not found/.test(err.message),
  );
});

test("a local .gguf path is used as is; a missing one is a clear error", async (t) => {
  const home = await tempHome(t);
  const file = join(home, "mine.gguf");
  await writeFile(file, DATA.subarray(0, 64));
  assert.equal(await ensureModel(file, { home }), file);
  await assert.rejects(ensureModel(join(home, "missing.gguf"), { home }), /not found/);
  const notGguf = join(home, "notes.gguf");
  await writeFile(notGguf, "hello");
  await assert.rejects(ensureModel(notGguf, { home }), /not a GGUF/);
});

test("invalid refs fail before any network use", async (t) => {
  const home = await tempHome(t);
  await assert.rejects(ensureModel("nope", { home, hfEndpoint: await closedPortUrl() }), InvalidRequestError);
});
