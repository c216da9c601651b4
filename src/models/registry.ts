/**
 * Model references, the local cache and fetching from Hugging Face or ModelScope.
 *
 * Cache layout (readable on purpose, so users can copy files in by hand):
 *   <EDGELLM_HOME>/models/<owner>/<repo>/<file>.gguf      a complete, verified model
 *   <EDGELLM_HOME>/models/<owner>/<repo>/<file>.gguf.part  a download in progress (resumable)
 *   <EDGELLM_HOME>/models/<owner>/<repo>/<file>.gguf.lock  pid of the process downloading it
 * `<owner>/<repo>` is always the Hugging Face repo id, whichever hub the bytes came from, so a
 * model pulled from ModelScope is found when serving with the default source.
 */
import { readdir, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { z } from "zod";
import { settingFromEnv } from "../config/resolve.js";
import type { ModelSource } from "../config/settings.js";
import { DownloadVerificationError, InvalidRequestError, ModelUnavailableError } from "../provider/errors.js";
import {
  type DownloadProgress,
  downloadFile,
  GGUF_MAGIC,
  HttpStatusError,
  httpRequest,
  isAbortError,
  isRedirect,
  NetworkError,
  readMagic,
} from "./download.js";

export const QUANTS = ["q2_k", "q3_k_m", "q4_0", "q4_k_m", "q5_0", "q5_k_m", "q6_k", "q8_0", "fp16"] as const;
export type Quant = (typeof QUANTS)[number];
export const DEFAULT_QUANT: Quant = "q4_k_m";
export { DEFAULT_MODEL, MODEL_SOURCES, type ModelSource } from "../config/settings.js";

/** A model we know by name; each quant is one GGUF file in the repo. */
export interface CatalogModel {
  name: string;
  /** Hugging Face repo id, e.g. "Qwen/Qwen2.5-0.5B-Instruct-GGUF". */
  huggingFaceRepo: string;
  /** ModelScope repo id holding the same file names. */
  modelScopeRepo: string;
  fileName(quant: Quant): string;
}

function qwen25(size: "0.5B" | "1.5B"): CatalogModel {
  const name = `qwen2.5-${size.toLowerCase()}-instruct`;
  return {
    name,
    huggingFaceRepo: `Qwen/Qwen2.5-${size}-Instruct-GGUF`,
    modelScopeRepo: `qwen/Qwen2.5-${size}-Instruct-GGUF`,
    fileName: (quant) => `${name}-${quant}.gguf`,
  };
}

export const CATALOG: readonly CatalogModel[] = [qwen25("0.5B"), qwen25("1.5B")];

/** A parsed model reference: where the file lives on the hubs. */
export interface ModelRef {
  /** Canonical spelling: "qwen2.5-0.5b-instruct:q4_k_m" or "hf:owner/repo/file.gguf". */
  ref: string;
  /** Hugging Face repo id "owner/repo"; also names the cache folder. */
  repo: string;
  /** Path of the file inside the repo (may contain "/"). */
  file: string;
  /** ModelScope repo id; for a plain Hugging Face ref we assume the same id is mirrored there. */
  modelScopeRepo: string;
  /** Set for catalog models. */
  catalog?: { name: string; quant: Quant };
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const ACCEPTED = [
  `a known model "name[:quant]" (${CATALOG.map((m) => m.name).join(", ")}; quants ${QUANTS.join(", ")}; default quant ${DEFAULT_QUANT})`,
  `a Hugging Face file "hf:owner/repo/file.gguf" or "owner/repo/file.gguf"`,
].join(", or ");

/** Parse `name[:quant]`, `hf:owner/repo/file.gguf` or `owner/repo/file.gguf`; throws InvalidRequestError otherwise. */
export function parseModelRef(input: string): ModelRef {
  const text = input.trim();
  const invalid = (why: string) =>
    new InvalidRequestError(`Invalid model "${input}": ${why}. Expected ${ACCEPTED}.`, { field: "model" });
  if (!text) throw invalid("empty");

  if (text.includes("/")) {
    const parts = (text.toLowerCase().startsWith("hf:") ? text.slice(3) : text).split("/");
    if (parts.length < 3) throw invalid("a Hugging Face ref needs owner, repo and file");
    if (!parts.every((p) => SEGMENT.test(p) && !p.includes("..")))
      throw invalid("bad characters in the path");
    const file = parts.slice(2).join("/");
    if (!file.toLowerCase().endsWith(".gguf")) throw invalid("the file must be a .gguf");
    const repo = `${parts[0]}/${parts[1]}`;
    const known = catalogMatch(repo, file);
    if (known) return known;
    return { ref: `hf:${repo}/${file}`, repo, file, modelScopeRepo: repo };
  }

  const [name, quantText, ...rest] = text.toLowerCase().split(":");
  const model = CATALOG.find((m) => m.name === name);
  if (!model || rest.length > 0) throw invalid("unknown model name");
  const quant = (quantText === undefined || quantText === "" ? DEFAULT_QUANT : quantText) as Quant;
  if (!QUANTS.includes(quant)) throw invalid(`unknown quant "${quantText}"`);
  return catalogRef(model, quant);
}

function catalogRef(model: CatalogModel, quant: Quant): ModelRef {
  return {
    ref: `${model.name}:${quant}`,
    repo: model.huggingFaceRepo,
    file: model.fileName(quant),
    modelScopeRepo: model.modelScopeRepo,
    catalog: { name: model.name, quant },
  };
}

/** The catalog entry a repo file belongs to, so `Qwen/.../x-q4_k_m.gguf` and `name:q4_k_m` share a cache entry. */
function catalogMatch(repo: string, file: string): ModelRef | undefined {
  for (const model of CATALOG) {
    if (model.huggingFaceRepo.toLowerCase() !== repo.toLowerCase()) continue;
    const quant = QUANTS.find((q) => model.fileName(q) === file.toLowerCase());
    if (quant) return catalogRef(model, quant);
  }
  return undefined;
}

/**
 * True for what `--model` should treat as a file on disk rather than a hub ref: an absolute path,
 * one starting with `./`, `../` or `~/`, or a `.gguf` name with fewer than three path segments.
 */
export function isLocalModelPath(ref: string): boolean {
  if (isAbsolute(ref) || /^(\.{1,2}|~)[\\/]/.test(ref) || /^[A-Za-z]:[\\/]/.test(ref)) return true;
  return (
    ref.toLowerCase().endsWith(".gguf") &&
    !ref.toLowerCase().startsWith("hf:") &&
    ref.split(/[\\/]/).length < 3
  );
}

/** Options shared by the cache functions. */
export interface CacheOptions {
  /** edgellm's data folder. Default: `EDGELLM_HOME`, else `~/.edgellm`. */
  home?: string;
}

/** `EDGELLM_HOME`, else `~/.edgellm`. */
export function edgellmHome(): string {
  return settingFromEnv("home") ?? join(homedir(), ".edgellm");
}

/** Where models are cached: `<home>/models`. */
export function modelsDir(home: string = edgellmHome()): string {
  return join(home, "models");
}

/** The cache path of a model, whether or not it is downloaded. */
export function modelCachePath(ref: string | ModelRef, opts: CacheOptions = {}): string {
  const parsed = typeof ref === "string" ? parseModelRef(ref) : ref;
  return join(modelsDir(opts.home), ...parsed.repo.split("/"), ...parsed.file.split("/"));
}

export interface CachedModel {
  /** Ref to pass back to `--model` / `ensureModel`: catalog name, `hf:` ref, or the path for stray files. */
  ref: string;
  path: string;
  sizeBytes: number;
  modifiedAt: Date;
}

/** Complete models in the cache, sorted by ref. `.part` downloads are never listed. */
export async function listModels(opts: CacheOptions = {}): Promise<CachedModel[]> {
  const root = modelsDir(opts.home);
  let names: string[];
  try {
    names = await readdir(root, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const models: CachedModel[] = [];
  for (const name of names) {
    if (!name.toLowerCase().endsWith(".gguf")) continue;
    const path = join(root, name);
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) continue;
    const parts = relative(root, path).split(sep);
    let ref = path;
    if (parts.length >= 3) {
      try {
        ref = parseModelRef(parts.join("/")).ref;
      } catch {
        // A hand-placed file with an odd name: still usable by path.
      }
    }
    models.push({ ref, path, sizeBytes: info.size, modifiedAt: info.mtime });
  }
  return models.sort((a, b) => a.ref.localeCompare(b.ref));
}

export interface EnsureModelOptions extends CacheOptions {
  /** Hub to download from. Default: `EDGELLM_MODEL_SOURCE`, else "huggingface". */
  source?: ModelSource;
  /** Download progress; not called when the model is already cached. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Cancels a download; the partial file is kept and resumed next time. */
  signal?: AbortSignal;
  /** Never touch the network; fail if the model is not cached. Default: `EDGELLM_OFFLINE` is "1" or "true". */
  offline?: boolean;
  /** Hugging Face base URL (a mirror works, e.g. https://hf-mirror.com). Default: `HF_ENDPOINT`, else https://huggingface.co. */
  hfEndpoint?: string;
  /** ModelScope base URL. Default: `MODELSCOPE_ENDPOINT`, else https://modelscope.cn. */
  modelscopeEndpoint?: string;
  /** Hugging Face token for gated or private repos. Default: `HF_TOKEN`. */
  hfToken?: string;
  /** Time to connect and get response headers before the hub counts as unreachable, in ms. Default: `EDGELLM_CONNECT_TIMEOUT_MS`, else 10 000. */
  connectTimeoutMs?: number;
  /** First retry delay after a cut connection, in ms, doubled per retry. Default 1000. */
  retryDelayMs?: number;
}

/** Resolved hub location plus what we know to verify the bytes. */
interface RemoteFile {
  url: string;
  headers: Record<string, string>;
  sizeBytes?: number;
  sha256?: string;
}

const inFlight = new Map<string, Promise<string>>();

/**
 * The local path of a model, downloading it into the cache first if needed. A local path
 * (see isLocalModelPath) is returned as is after checking it exists. Concurrent calls for the
 * same model in one process share one download.
 */
export async function ensureModel(ref: string, opts: EnsureModelOptions = {}): Promise<string> {
  if (isLocalModelPath(ref)) return checkLocalFile(ref);
  const parsed = parseModelRef(ref);
  const dest = modelCachePath(parsed, opts);
  if (await isFile(dest)) return dest;

  const pending = inFlight.get(dest);
  if (pending) return pending;
  const promise = fetchModel(parsed, dest, opts).finally(() => inFlight.delete(dest));
  inFlight.set(dest, promise);
  return promise;
}

async function fetchModel(ref: ModelRef, dest: string, opts: EnsureModelOptions): Promise<string> {
  const offline = opts.offline ?? settingFromEnv("offline");
  if (offline) {
    throw new ModelUnavailableError(
      `Model "${ref.ref}" is not in the cache (${dest}) and offline mode is on. ` +
        `Use a local file with --model ./file.gguf, or download it first with "edgellm pull ${ref.ref}".`,
    );
  }
  const source = opts.source ?? settingFromEnv("source");
  const connectTimeoutMs = opts.connectTimeoutMs ?? settingFromEnv("hubConnectTimeout");
  const endpoint =
    source === "huggingface"
      ? baseUrl(opts.hfEndpoint ?? settingFromEnv("hfEndpoint"), "HF_ENDPOINT")
      : baseUrl(opts.modelscopeEndpoint ?? settingFromEnv("modelscopeEndpoint"), "MODELSCOPE_ENDPOINT");
  try {
    const remote =
      source === "huggingface"
        ? await resolveHuggingFace(
            ref,
            endpoint,
            opts.hfToken ?? settingFromEnv("hfToken"),
            connectTimeoutMs,
            opts.signal,
          )
        : await resolveModelScope(ref, endpoint, connectTimeoutMs, opts.signal);
    const result = await downloadFile({
      url: remote.url,
      dest,
      expectedSize: remote.sizeBytes,
      sha256: remote.sha256,
      headers: remote.headers,
      onProgress: opts.onProgress,
      signal: opts.signal,
      connectTimeoutMs,
      retryDelayMs: opts.retryDelayMs,
    });
    return result.path;
  } catch (err) {
    throw explain(err, ref, dest, endpoint, source);
  }
}

async function resolveHuggingFace(
  ref: ModelRef,
  endpoint: string,
  token: string | undefined,
  connectTimeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<RemoteFile> {
  const url = `${endpoint}/${ref.repo}/resolve/main/${encodePath(ref.file)}`;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  // The first response carries x-linked-size/etag (LFS size and sha256); the CDN it redirects to does not.
  // Same-origin redirects (renamed repos) are followed, as huggingface_hub does.
  let current = new URL(url);
  for (let hop = 0; hop < 5; hop++) {
    const res = await httpRequest(current, { method: "HEAD", headers, connectTimeoutMs, signal });
    res.resume();
    const h = res.headers;
    const status = res.statusCode ?? 0;
    const location = h.location ? new URL(h.location, current) : undefined;
    if (isRedirect(status) && location?.origin === current.origin && !h["x-linked-size"]) {
      current = location;
      continue;
    }
    if (status === 401 || status === 403 || status === 404)
      throw new HttpStatusError(current.href, status, h);
    if (status >= 400) break; // metadata is optional; the GET retries and reports real failures
    const size = Number(h["x-linked-size"] ?? (isRedirect(status) ? undefined : h["content-length"]));
    const etag = String(h["x-linked-etag"] ?? h.etag ?? "")
      .replace(/^W\//, "")
      .replaceAll('"', "");
    return {
      url,
      headers,
      sizeBytes: Number.isSafeInteger(size) && size > 0 ? size : undefined,
      // Only LFS etags are sha256; small git files have a sha1 etag, which we ignore.
      sha256: /^[0-9a-f]{64}$/i.test(etag) ? etag : undefined,
    };
  }
  return { url, headers };
}

const modelScopeFiles = z.object({
  Data: z.object({
    Files: z.array(
      z.object({
        Path: z.string().optional(),
        Name: z.string().optional(),
        Size: z.number().optional(),
        Sha256: z.string().optional(),
      }),
    ),
  }),
});

async function resolveModelScope(
  ref: ModelRef,
  endpoint: string,
  connectTimeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<RemoteFile> {
  const url = `${endpoint}/models/${ref.modelScopeRepo}/resolve/master/${encodePath(ref.file)}`;
  const api = `${endpoint}/api/v1/models/${ref.modelScopeRepo}/repo/files?Revision=master&Recursive=true`;
  try {
    const res = await httpRequest(api, { connectTimeoutMs, signal, headers: { accept: "application/json" } });
    const chunks: Buffer[] = [];
    for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
    if (res.statusCode !== 200) return { url, headers: {} };
    const files = modelScopeFiles.parse(JSON.parse(Buffer.concat(chunks).toString("utf8"))).Data.Files;
    const entry = files.find((f) => f.Path === ref.file) ?? files.find((f) => f.Name === ref.file);
    return {
      url,
      headers: {},
      sizeBytes: entry?.Size && entry.Size > 0 ? entry.Size : undefined,
      sha256: entry?.Sha256 && /^[0-9a-f]{64}$/i.test(entry.Sha256) ? entry.Sha256 : undefined,
    };
  } catch (err) {
    // Unreachable is final; any other metadata failure only costs us the sha256 check.
    if (err instanceof NetworkError || isAbortError(err)) throw err;
    return { url, headers: {} };
  }
}

/** One clear error for the user, naming what to do next. */
function explain(err: unknown, ref: ModelRef, dest: string, endpoint: string, source: ModelSource): unknown {
  if (isAbortError(err) || err instanceof DownloadVerificationError || err instanceof ModelUnavailableError)
    return err;
  const where = `${source === "huggingface" ? "Hugging Face" : "ModelScope"} (${endpoint})`;
  const repo = source === "huggingface" ? ref.repo : ref.modelScopeRepo;
  const cannot = `Cannot download model "${ref.ref}"`;
  if (err instanceof HttpStatusError && err.status === 404) {
    return new ModelUnavailableError(`${cannot}: ${ref.file} was not found in ${repo} on ${where}.`, err);
  }
  if (err instanceof HttpStatusError && (err.status === 401 || err.status === 403)) {
    return new ModelUnavailableError(
      `${cannot}: ${where} denied access to ${repo} (HTTP ${err.status}); for a gated or private repo set HF_TOKEN.`,
      err,
    );
  }
  if (err instanceof NetworkError || err instanceof HttpStatusError) {
    const why = err instanceof NetworkError ? `is unreachable (${err.code})` : `answered HTTP ${err.status}`;
    return new ModelUnavailableError(`${cannot}: ${where} ${why}. ${remedies(ref.ref, dest, source)}`, err);
  }
  return err;
}

function remedies(ref: string, dest: string, source: ModelSource): string {
  const mirror =
    source === "huggingface"
      ? "try a mirror: HF_ENDPOINT=https://hf-mirror.com or EDGELLM_MODEL_SOURCE=modelscope"
      : "try EDGELLM_MODEL_SOURCE=huggingface, with HF_ENDPOINT=https://hf-mirror.com as a mirror";
  return (
    `Use a local file with --model ./file.gguf, or download it ahead of time with "edgellm pull ${ref}" where the network works, then copy the file to ${dest}. ` +
    `Behind a firewall, ${mirror}.`
  );
}

async function checkLocalFile(ref: string): Promise<string> {
  const path = resolve(ref.startsWith("~/") || ref.startsWith("~\\") ? join(homedir(), ref.slice(2)) : ref);
  if (!(await isFile(path))) throw new ModelUnavailableError(`Model file not found: ${path}`);
  if ((await readMagic(path)) !== GGUF_MAGIC) throw new ModelUnavailableError(`${path} is not a GGUF file.`);
  return path;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
}

function baseUrl(value: string, name: string): string {
  const text = value.trim();
  try {
    const url = new URL(text);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http");
  } catch {
    throw new InvalidRequestError(`${name} must be an http(s) URL, not "${text}".`);
  }
  return text.replace(/\/+$/, "");
}

function encodePath(file: string): string {
  return file.split("/").map(encodeURIComponent).join("/");
}
