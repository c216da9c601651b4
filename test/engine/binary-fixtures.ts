/**
 * Stand-ins for the llama-server binary tests: a shell script that answers `--version` like llama-server,
 * release archives holding it, and a local HTTP server playing GitHub's release API and download host.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import http, { type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tar from "tar";
import type { BundledLlamaCpp } from "../../src/engine/binary/paths.js";

export const TAG = "v0.5.0";
export const COMMIT = "de3ff815ea7d559ee917f063901b8986f038abc6";

/** A bundled llama.cpp with a made-up tag (the bundle itself is not read by find or pull). */
export function fakeBundled(commit = COMMIT): BundledLlamaCpp {
  return { tag: TAG, repo: "ggml-org/llama.cpp", commit, bundlePath: "/nonexistent/gitRelease.bundle" };
}

/** The content of a stand-in AMX module that does not crash the stand-in binary. */
export const WORKING_AMX_MODULE = "an AMX module that runs here";

export async function tempDir(prefix = "edgellm-binary-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export interface StandInOptions {
  /** The whole `--version` output (to stderr, as llama-server prints it). */
  output?: string;
  exitCode?: number;
  /** Sleeps instead of answering. */
  hang?: boolean;
  /**
   * Serving a model, dies by SIGILL while `libggml-cpu-sapphirerapids.so` is beside it (as on the VM where
   * ggml's own AMX module crashed), unless that file holds {@link WORKING_AMX_MODULE}.
   */
  crashWithAmx?: boolean;
  /** `--version` ends with "built with cwd <its working directory>". */
  printCwd?: boolean;
  /** Serving a model, dies by SIGILL. */
  crash?: boolean;
  /** Serving a model, exits 1 with a message instead of listening. */
  failToServe?: boolean;
}

/**
 * Writes an executable `<dir>/llama-server` Node script; returns its path. With `--version` it prints
 * `output`; with `-m MODEL --port P` it answers GET /health with 200, like llama-server once loaded.
 */
export async function writeStandIn(dir: string, opts: StandInOptions = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const output =
    opts.output ?? `version: 0.5.0-dev (build 1, commit ${COMMIT.slice(0, 7)})\nbuilt with test for node`;
  const script = `#!${process.execPath}
const args = process.argv.slice(2);
const opts = ${JSON.stringify(opts)};
if (opts.hang) setTimeout(() => {}, 30000);
else if (args[0] === "--version") {
  process.stderr.write(${JSON.stringify(`${output}\n`)} + (opts.printCwd ? "built with cwd " + process.cwd() + "\\n" : ""));
  process.exitCode = opts.exitCode ?? 0;
} else {
  const beside = require("node:path").join(__dirname, "libggml-cpu-sapphirerapids.so");
  const fs = require("node:fs");
  const badAmx = fs.existsSync(beside) && fs.readFileSync(beside, "utf8") !== ${JSON.stringify(WORKING_AMX_MODULE)};
  if (opts.crash || (opts.crashWithAmx && badAmx)) process.kill(process.pid, "SIGILL");
  else if (opts.failToServe) { process.stderr.write("error: cannot load model\\n"); process.exit(1); }
  else {
    const port = Number(args[args.indexOf("--port") + 1]);
    require("node:http").createServer((req, res) => res.writeHead(req.url === "/health" ? 200 : 404).end()).listen(port, "127.0.0.1");
  }
}
`;
  const path = join(dir, "llama-server");
  await writeFile(path, script);
  await chmod(path, 0o755);
  return path;
}

/** A folder `<root>/build/bin/` holding a stand-in binary, a library and a symlink to it, as release archives do. */
export async function releaseTree(standIn: StandInOptions = {}, extraFiles: string[] = []): Promise<string> {
  const root = await tempDir("edgellm-release-tree-");
  const bin = join(root, "build", "bin");
  await writeStandIn(bin, standIn);
  for (const name of extraFiles) await writeFile(join(bin, name), "a module");
  // Random (incompressible) so the archive is big enough to be cut mid-way in the resume test.
  await writeFile(join(bin, "libllama.so.0.5.0"), randomBytes(1024 * 1024));
  execFileSync("ln", ["-s", "libllama.so.0.5.0", join(bin, "libllama.so")]);
  return root;
}

export async function tarGz(root: string): Promise<Buffer> {
  const file = join(await tempDir(), "a.tar.gz");
  await tar.c({ gzip: true, file, cwd: root }, ["build"]);
  return readFile(file);
}

/** A zip of `root` made with Info-ZIP's `zip -y` (symlinks kept), or undefined where it is not installed. */
export async function zip(root: string): Promise<Buffer | undefined> {
  const file = join(await tempDir(), "a.zip");
  try {
    execFileSync("zip", ["-q", "-r", "-y", file, "build"], { cwd: root });
  } catch {
    return undefined;
  }
  return readFile(file);
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface ServedAsset {
  name: string;
  data: Buffer;
  /** Digest the release JSON claims; default the real one. null leaves it out. */
  digest?: string | null;
  /** The first download request is cut after this many bytes. */
  cutFirstAfter?: number;
}

export interface ReleaseServer {
  /** API base to pass as `releasesUrl` / EDGELLM_LLAMA_RELEASES_URL. */
  url: string;
  requests: { url: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** Serves `/repos/ggml-org/llama.cpp/releases/tags/<TAG>` and `/download/<name>` (honouring Range). */
export async function releaseServer(assets: ServedAsset[], tag = TAG): Promise<ReleaseServer> {
  const requests: ReleaseServer["requests"] = [];
  let base = "";
  const downloads = new Map<string, number>();
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? "", headers: req.headers });
    if (req.url === `/repos/ggml-org/llama.cpp/releases/tags/${tag}`) {
      const release = {
        tag_name: tag,
        assets: assets.map((a) => ({
          name: a.name,
          size: a.data.length,
          ...(a.digest === null ? {} : { digest: `sha256:${a.digest ?? sha256(a.data)}` }),
          browser_download_url: `${base}/download/${a.name}`,
        })),
      };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(release));
      return;
    }
    const asset = assets.find((a) => req.url === `/download/${a.name}`);
    if (!asset) {
      res.writeHead(404).end();
      return;
    }
    const nth = (downloads.get(asset.name) ?? 0) + 1;
    downloads.set(asset.name, nth);
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? "")?.[1] ?? 0);
    const body = asset.data.subarray(start);
    const headers = { "content-length": body.length };
    if (start > 0) {
      res.writeHead(206, {
        ...headers,
        "content-range": `bytes ${start}-${asset.data.length - 1}/${asset.data.length}`,
      });
    } else {
      res.writeHead(200, headers);
    }
    if (nth === 1 && asset.cutFirstAfter !== undefined) {
      res.write(body.subarray(0, asset.cutFirstAfter), () => res.socket?.destroy());
    } else {
      res.end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export { runCli } from "../helpers/cli.js";
