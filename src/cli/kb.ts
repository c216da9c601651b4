/**
 * `edgellm kb`: the knowledge base from the terminal, against a running server. Every subcommand goes through
 * the official `openai` client (Files, Vector Stores, file batches, search), as any app would; a store is
 * named by its id or its name.
 */
import { openAsBlob } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import cliProgress from "cli-progress";
import { Command, type CommanderError, InvalidArgumentError, Option } from "commander";
import OpenAI, { toFile } from "openai";
import type {
  FileBatchCreateParams,
  VectorStoreFileBatch,
} from "openai/resources/vector-stores/file-batches";
import type { VectorStoreFile } from "openai/resources/vector-stores/files";
import type { VectorStore } from "openai/resources/vector-stores/vector-stores";
import { SUPPORTED_EXTENSIONS } from "../kb/extract/types.js";
import { formatBytes } from "./models.js";
import { intOption } from "./options.js";
import { commandSettings } from "./setting-options.js";

const DEFAULT_URL = "http://127.0.0.1:8080";

const SUPPORTED = new Set<string>(SUPPORTED_EXTENSIONS);

/** The server's default `--kb-max-file-size`: a bigger file is reported as failed without being sent. */
const MAX_FILE_BYTES = 50 * 1024 * 1024;
/** Files a batch, well under the server's 10 000, so one batch's file list stays a few pages. */
const BATCH_SIZE = 1000;
const UPLOAD_CONCURRENCY = 4;
const POLL_MS = 500;
/** What `search` shows of a passage without `--full`: lines, and columns a line. */
const EXCERPT_LINES = 4;
const EXCERPT_WIDTH = 150;
/** Upload refusals that concern one file (its name, its size, the storage quota); others stop the command. */
const FILE_REFUSALS = new Set([400, 413, 415, 422]);

type Attributes = Record<string, string | number | boolean>;

interface Connection {
  url: string;
  apiKey?: string;
  json?: boolean;
}

interface Context {
  client: OpenAI;
  url: string;
  json: boolean;
}

/** A problem the command found itself (a name that matches no store, a missing path): exit 1. */
class KbError extends Error {}

export function kbCommand(): Command {
  const command = new Command("kb")
    .description("Manage knowledge bases (vector stores) on a running server: create, add files, search")
    .addCommand(
      connected(new Command("create"), "print the store as JSON")
        .description("Create a knowledge base and print its id")
        .argument("<name>", "its name (unique: commands take a name or an id)")
        .action((name: string, _flags: Connection, self: Command) => run(self, (ctx) => create(ctx, name))),
    )
    .addCommand(
      connected(new Command("list"), "print the stores as JSON")
        .description("List the knowledge bases: id, name, files completed, failed and in progress, size")
        .action((_flags: Connection, self: Command) => run(self, list)),
    )
    .addCommand(
      connected(new Command("delete"), "print the result as JSON")
        .description("Delete a knowledge base, and the files it held that no other knowledge base holds")
        .argument("<store>", "its name or id")
        .option("--keep-files", "keep the uploaded files (only the store and its index go)")
        .action((store: string, flags: Connection & { keepFiles?: boolean }, self: Command) =>
          run(self, (ctx) => remove(ctx, store, flags.keepFiles === true)),
        ),
    )
    .addCommand(addCommand())
    .addCommand(
      connected(new Command("files"), "print the files as JSON")
        .description("List a knowledge base's files: status, chunks and error")
        .argument("<store>", "its name or id")
        .action((store: string, _flags: Connection, self: Command) => run(self, (ctx) => files(ctx, store))),
    )
    .addCommand(
      connected(new Command("rm"), "print the result as JSON")
        .description("Remove a file from a knowledge base (and delete it, unless another one holds it)")
        .argument("<store>", "its name or id")
        .argument("<file>", "the file's id (file-...) or its name in the knowledge base")
        .option("--keep-file", "keep the uploaded file; only remove it from the knowledge base")
        .action((store: string, file: string, flags: Connection & { keepFile?: boolean }, self: Command) =>
          run(self, (ctx) => removeFile(ctx, store, file, flags.keepFile === true)),
        ),
    )
    .addCommand(
      connected(new Command("search"), "print the results as JSON")
        .description("Search a knowledge base: the best passages with score, file and heading path")
        .argument("<store>", "its name or id")
        .argument("<query...>", "what to look for")
        .option("-n, --max-results <n>", "passages to show", intOption(1, 50), 5)
        .option("--full", "print each passage whole, not its first lines")
        .action(
          (
            store: string,
            query: string[],
            flags: Connection & { maxResults: number; full?: boolean },
            self: Command,
          ) => run(self, (ctx) => search(ctx, store, query.join(" "), flags)),
        ),
    );
  // index.ts makes usage errors exit 2 for its own commands; these are one level further down.
  for (const sub of command.commands) sub.exitOverride(usageExit);
  return command;
}

function usageExit(error: CommanderError): never {
  process.exit(error.exitCode === 0 ? 0 : 2);
}

function addCommand(): Command {
  return connected(new Command("add"), "print the summary as JSON")
    .description("Add files and folders (recursively) to a knowledge base, and wait until they are indexed")
    .argument("<store>", "its name or id")
    .argument("<path...>", "files and folders")
    .option(
      "--attribute <key=value>",
      'an attribute of every file added, for search filters; repeatable ("true"/"false" and numbers are typed)',
      attributeOption,
    )
    .option(
      "--chunk-size <tokens>",
      "static chunking: tokens a chunk (default: the server's auto, 300)",
      intOption(100, 4096),
    )
    .option(
      "--chunk-overlap <tokens>",
      "static chunking: tokens shared by neighbouring chunks (default: a fifth of --chunk-size)",
      intOption(0, 2048),
    )
    .addHelpText(
      "after",
      `
Reads ${SUPPORTED_EXTENSIONS.join(" ")};
other files, hidden files and folders, and node_modules are skipped. Files over
${MAX_FILE_BYTES / 1024 / 1024} MiB are reported as failed without being uploaded.

Exit code: 0 if every file was indexed; 1 if any failed (the summary names each
one and why) or on an error; 2 for a usage error.`,
    )
    .action(
      (
        store: string,
        paths: string[],
        flags: Connection & { attribute?: Attributes; chunkSize?: number; chunkOverlap?: number },
        self: Command,
      ) => {
        if (flags.chunkOverlap !== undefined && flags.chunkSize === undefined)
          self.error("error: --chunk-overlap needs --chunk-size", { exitCode: 2 });
        const overlap = flags.chunkOverlap ?? Math.floor((flags.chunkSize ?? 0) / 5);
        if (flags.chunkSize !== undefined && overlap > flags.chunkSize / 2)
          self.error("error: --chunk-overlap may be at most half of --chunk-size", { exitCode: 2 });
        const chunking: FileBatchCreateParams["chunking_strategy"] =
          flags.chunkSize === undefined
            ? undefined
            : {
                type: "static",
                static: { max_chunk_size_tokens: flags.chunkSize, chunk_overlap_tokens: overlap },
              };
        return run(self, (ctx) => add(ctx, store, paths, { attributes: flags.attribute, chunking }));
      },
    );
}

/** Adds the options every subcommand shares: where the server is, its key, and `--json`. */
function connected(command: Command, jsonHelp: string): Command {
  return command
    .addOption(
      new Option("--url <url>", "base URL of a running edgellm server")
        .env("EDGELLM_URL")
        .default(DEFAULT_URL),
    )
    .option(
      "--api-key <key>",
      "API key, for servers that need one (default: EDGELLM_API_KEY's first key, or OPENAI_API_KEY)",
    )
    .option("--json", jsonHelp);
}

function attributeOption(value: string, previous: Attributes = {}): Attributes {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError("expected key=value.");
  const raw = value.slice(at + 1);
  const typed =
    raw === "true"
      ? true
      : raw === "false"
        ? false
        : raw !== "" && String(Number(raw)) === raw
          ? Number(raw)
          : raw;
  return { ...previous, [value.slice(0, at)]: typed };
}

/** Runs a subcommand against the server; any error is one line on stderr and exit code 1. */
async function run(self: Command, body: (ctx: Context) => Promise<void>): Promise<void> {
  const flags = self.opts<Connection>();
  // As chat finds its key: the flag, then the server's own variable, then OpenAI's.
  const { values } = commandSettings(self, ["apiKey", "openaiApiKey"]);
  const url = flags.url.replace(/\/+$/, "").replace(/\/v1$/, "");
  const client = new OpenAI({
    baseURL: `${url}/v1`,
    apiKey: flags.apiKey ?? values.apiKey[0] ?? values.openaiApiKey ?? "none",
  });
  try {
    await body({ client, url, json: flags.json === true });
  } catch (error) {
    process.stderr.write(`edgellm kb: ${describeError(error, url)}\n`);
    process.exitCode = 1;
  }
}

function describeError(error: unknown, url: string): string {
  if (error instanceof OpenAI.APIConnectionTimeoutError)
    return `the server at ${url} did not answer in time.`;
  if (error instanceof OpenAI.APIConnectionError)
    return `cannot reach a server at ${url}. Start one with "edgellm serve", or point --url (or EDGELLM_URL) at it.`;
  if (error instanceof OpenAI.APIError) return serverMessage(error);
  return error instanceof Error ? error.message : String(error);
}

/** The server's own message, without the status the SDK puts in front of it. */
function serverMessage(error: InstanceType<typeof OpenAI.APIError>): string {
  const message = (error.error as { message?: unknown } | undefined)?.message;
  return typeof message === "string" ? message : error.message;
}

function print(ctx: Context, value: unknown, text: () => string): void {
  process.stdout.write(ctx.json ? `${JSON.stringify(value, null, 2)}\n` : text());
}

/** Rows as aligned columns, the first row the header (as `edgellm models` prints). */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => displayWidth(row[col]))));
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, col) => cell + " ".repeat(widths[col] - displayWidth(cell)))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}

/** Terminal columns of `text`: CJK and other wide characters take two, combining marks none. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    const c = char.codePointAt(0) as number;
    if (/\p{Mn}|\p{Me}|\p{Cf}/u.test(char)) continue;
    const wide =
      (c >= 0x1100 && c <= 0x115f) ||
      (c >= 0x2e80 && c <= 0xa4cf && c !== 0x303f) ||
      (c >= 0xac00 && c <= 0xd7a3) ||
      (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) ||
      (c >= 0xff00 && c <= 0xff60) ||
      (c >= 0xffe0 && c <= 0xffe6) ||
      (c >= 0x1f300 && c <= 0x1faff) ||
      (c >= 0x20000 && c <= 0x3fffd);
    width += wide ? 2 : 1;
  }
  return width;
}

async function allStores(client: OpenAI): Promise<VectorStore[]> {
  const stores: VectorStore[] = [];
  for await (const store of client.vectorStores.list({ limit: 100 })) stores.push(store);
  return stores;
}

async function storeFiles(client: OpenAI, storeId: string): Promise<VectorStoreFile[]> {
  const files: VectorStoreFile[] = [];
  for await (const file of client.vectorStores.files.list(storeId, { limit: 100 })) files.push(file);
  return files;
}

/** The store a user named, by id or by name; a name must match exactly one. */
async function resolveStore(client: OpenAI, ref: string): Promise<VectorStore> {
  const stores = await allStores(client);
  const byId = stores.find((store) => store.id === ref);
  if (byId) return byId;
  const named = stores.filter((store) => sameName(store, ref));
  if (named.length === 1) return named[0];
  if (named.length === 0)
    throw new KbError(`no knowledge base is named "${ref}" or has that id ("edgellm kb list" shows them).`);
  throw new KbError(
    `${named.length} knowledge bases are named "${ref}" (${named.map((s) => s.id).join(", ")}): name one by its id.`,
  );
}

/** Names compare as typed and as stored may differ in Unicode normalization (macOS filenames, IMEs). */
const sameName = (store: VectorStore, name: string) =>
  (store.name ?? "").normalize("NFC") === name.normalize("NFC");

const label = (store: VectorStore) => `${store.name || "(unnamed)"} (${store.id})`;

async function create(ctx: Context, name: string): Promise<void> {
  if (name.trim() === "") throw new KbError("the name is empty.");
  const same = (await allStores(ctx.client)).find((s) => sameName(s, name));
  if (same) throw new KbError(`a knowledge base named "${name}" exists already (${same.id}).`);
  const store = await ctx.client.vectorStores.create({ name });
  print(ctx, store, () => `${store.id}\n`);
}

async function list(ctx: Context): Promise<void> {
  const stores = await allStores(ctx.client);
  print(ctx, stores, () =>
    stores.length === 0
      ? 'No knowledge bases. Create one with "edgellm kb create NAME".\n'
      : table([
          ["ID", "NAME", "COMPLETED", "FAILED", "IN PROGRESS", "SIZE"],
          ...stores.map((s) => [
            s.id,
            s.name ?? "",
            String(s.file_counts.completed),
            String(s.file_counts.failed),
            String(s.file_counts.in_progress),
            formatBytes(s.usage_bytes),
          ]),
        ]),
  );
}

/** Of `fileIds`, those that no store but `except` holds: what deleting `except`'s files may remove. */
async function heldOnlyBy(client: OpenAI, except: string, fileIds: string[]): Promise<string[]> {
  const elsewhere = new Set<string>();
  for (const store of await allStores(client)) {
    if (store.id === except) continue;
    for (const file of await storeFiles(client, store.id)) elsewhere.add(file.id);
  }
  return fileIds.filter((id) => !elsewhere.has(id));
}

async function remove(ctx: Context, ref: string, keepFiles: boolean): Promise<void> {
  const store = await resolveStore(ctx.client, ref);
  const held = (await storeFiles(ctx.client, store.id)).map((f) => f.id);
  // A file another store holds stays: deleting it would take its chunks out of that store too.
  const own = keepFiles ? [] : await heldOnlyBy(ctx.client, store.id, held);
  await ctx.client.vectorStores.delete(store.id);
  for (const id of own) await ctx.client.files.delete(id);
  print(ctx, { id: store.id, deleted: true, deleted_file_ids: own }, () => {
    const kept = held.length - own.length;
    return `Deleted ${label(store)}${own.length ? `, and ${own.length} file${own.length === 1 ? "" : "s"}` : ""}${kept ? `; ${kept} file${kept === 1 ? "" : "s"} kept` : ""}.\n`;
  });
}

async function files(ctx: Context, ref: string): Promise<void> {
  const store = await resolveStore(ctx.client, ref);
  const rows = await storeFiles(ctx.client, store.id);
  print(ctx, rows, () =>
    rows.length === 0
      ? `${label(store)} holds no files. Add some with "edgellm kb add".\n`
      : table([
          ["FILE ID", "NAME", "STATUS", "CHUNKS", "SIZE", "ERROR"],
          ...rows.map((f) => {
            const extra = f as VectorStoreFile & { filename?: string | null; chunk_count?: number };
            return [
              f.id,
              extra.filename ?? "",
              f.status,
              f.status === "completed" ? String(extra.chunk_count ?? "") : "",
              formatBytes(f.usage_bytes),
              f.last_error?.message ?? "",
            ];
          }),
        ]),
  );
}

async function removeFile(ctx: Context, ref: string, fileRef: string, keepFile: boolean): Promise<void> {
  const store = await resolveStore(ctx.client, ref);
  const held = await storeFiles(ctx.client, store.id);
  let file = held.find((f) => f.id === fileRef);
  if (!file) {
    const named = held.filter((f) => (f as { filename?: string | null }).filename === fileRef);
    if (named.length > 1)
      throw new KbError(
        `${named.length} files in ${label(store)} are named "${fileRef}" (${named.map((f) => f.id).join(", ")}): name one by its id.`,
      );
    file = named[0];
  }
  if (!file) throw new KbError(`${label(store)} holds no file "${fileRef}" ("edgellm kb files" lists them).`);
  await ctx.client.vectorStores.files.delete(file.id, { vector_store_id: store.id });
  const deleteFile = !keepFile && (await heldOnlyBy(ctx.client, store.id, [file.id])).length === 1;
  if (deleteFile) await ctx.client.files.delete(file.id);
  print(ctx, { id: file.id, vector_store_id: store.id, removed: true, file_deleted: deleteFile }, () =>
    deleteFile
      ? `Removed ${file.id} from ${label(store)} and deleted it.\n`
      : `Removed ${file.id} from ${label(store)}${keepFile ? "" : " (another knowledge base holds it, so it stays)"}.\n`,
  );
}

async function search(
  ctx: Context,
  ref: string,
  query: string,
  flags: { maxResults: number; full?: boolean },
): Promise<void> {
  const store = await resolveStore(ctx.client, ref);
  const page = await ctx.client.vectorStores.search(store.id, { query, max_num_results: flags.maxResults });
  const results = page.data;
  print(ctx, results, () => {
    if (results.length === 0) return `Nothing in ${label(store)} matches "${query}".\n`;
    return results
      .map((result, i) => {
        const path = (result as { heading_path?: string[] }).heading_path ?? [];
        const where = [result.filename, path.join(" › ")].filter(Boolean).join("  ");
        const text = result.content.map((c) => c.text).join("\n");
        const body = excerpt(text, flags.full === true).replace(/^/gm, "   ");
        return `${i + 1}. ${result.score.toFixed(3)}  ${where}\n${body}\n`;
      })
      .join("\n");
  });
}

/** A passage's first lines, each cut to about two terminal lines. */
function excerpt(text: string, full: boolean): string {
  if (full) return text.trim();
  const lines = text
    .trim()
    .split("\n")
    .filter((line) => line.trim() !== "");
  const shown = lines.slice(0, EXCERPT_LINES).map((line) => {
    if (displayWidth(line) <= EXCERPT_WIDTH) return line;
    let cut = "";
    for (const char of line) {
      if (displayWidth(cut + char) > EXCERPT_WIDTH - 1) break;
      cut += char;
    }
    return `${cut}…`;
  });
  return `${shown.join("\n")}${lines.length > shown.length ? "\n…" : ""}`;
}

interface Found {
  files: { path: string; bytes: number }[];
  /** Skipped files by extension ("" for none). */
  unsupported: Map<string, number>;
  /** Hidden files and folders, and node_modules folders, not read. */
  hidden: number;
}

/**
 * The supported files under `paths`, in a stable order, each once (by its real path). What the user named is
 * read even if hidden; what a walk finds is not when hidden or in node_modules.
 */
async function collectFiles(paths: string[]): Promise<Found> {
  const found: Found = { files: [], unsupported: new Map(), hidden: 0 };
  const seen = new Set<string>();
  const visit = async (path: string, named: boolean): Promise<void> => {
    const name = basename(path);
    if (!named && (name.startsWith(".") || name === "node_modules")) {
      found.hidden++;
      return;
    }
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      if (!named) return undefined; // a dangling link in a folder
      throw new KbError(error.code === "ENOENT" ? `${path}: no such file or folder.` : error.message);
    });
    if (!info) return;
    const real = await realpath(path);
    if (seen.has(real)) return;
    seen.add(real);
    if (info.isDirectory()) {
      for (const entry of (await readdir(path)).sort()) await visit(join(path, entry), false);
      return;
    }
    if (!info.isFile()) return;
    const ext = extname(name).toLowerCase();
    if (SUPPORTED.has(ext)) found.files.push({ path, bytes: info.size });
    else found.unsupported.set(ext, (found.unsupported.get(ext) ?? 0) + 1);
  };
  for (const path of paths) await visit(path, true);
  return found;
}

function describeSkipped(found: Found): string | undefined {
  const parts = [...found.unsupported].map(([ext, n]) => `${n} ${ext || "without extension"}`);
  const unsupported = [...found.unsupported.values()].reduce((a, b) => a + b, 0);
  const skipped = [
    unsupported ? `${unsupported} of an unsupported type (${parts.join(", ")})` : "",
    found.hidden ? `${found.hidden} hidden or node_modules` : "",
  ].filter(Boolean);
  return skipped.length ? `skipped ${skipped.join("; ")}` : undefined;
}

interface Outcome {
  path: string;
  bytes: number;
  fileId?: string;
  status: "completed" | "failed";
  error?: string;
}

async function add(
  ctx: Context,
  ref: string,
  paths: string[],
  options: { attributes?: Attributes; chunking?: FileBatchCreateParams["chunking_strategy"] },
): Promise<void> {
  const store = await resolveStore(ctx.client, ref);
  const found = await collectFiles(paths);
  const skipped = describeSkipped(found);
  if (found.files.length === 0)
    throw new KbError(
      `no file to add in ${paths.join(", ")}${skipped ? ` (${skipped})` : ""}; supported: ${SUPPORTED_EXTENSIONS.join(" ")}.`,
    );
  process.stderr.write(
    `Adding ${found.files.length} file${found.files.length === 1 ? "" : "s"} to ${label(store)}${skipped ? `; ${skipped}` : ""}.\n`,
  );
  const outcomes: Outcome[] = found.files.map((f) => ({ ...f, status: "failed" }));
  for (const outcome of outcomes)
    if (outcome.bytes > MAX_FILE_BYTES)
      outcome.error = `The file is ${formatBytes(outcome.bytes)}, over the limit of ${MAX_FILE_BYTES / 1024 / 1024} MiB.`;

  await upload(
    ctx.client,
    outcomes.filter((o) => !o.error),
  );
  const uploaded = outcomes.filter((o) => o.fileId !== undefined);
  if (uploaded.length > 0) await ingest(ctx.client, store.id, uploaded, options);

  const completed = outcomes.filter((o) => o.status === "completed");
  const failed = outcomes.filter((o) => o.status === "failed");
  print(
    ctx,
    {
      vector_store_id: store.id,
      completed: completed.map((o) => ({ path: o.path, file_id: o.fileId })),
      failed: failed.map((o) => ({ path: o.path, file_id: o.fileId ?? null, error: o.error })),
      skipped: [...found.unsupported.values()].reduce((a, b) => a + b, found.hidden),
    },
    () =>
      [
        `${completed.length} completed, ${failed.length} failed, in ${label(store)}.`,
        ...failed.map((o) => `failed: ${o.path}: ${o.error}`),
        ...(skipped ? [`${skipped[0].toUpperCase()}${skipped.slice(1)}.`] : []),
      ]
        .map((line) => `${line}\n`)
        .join(""),
  );
  if (failed.length > 0) process.exitCode = 1;
}

/** Uploads each file under its base name, a few at a time; a refusal of one file fails that file alone. */
async function upload(client: OpenAI, outcomes: Outcome[]): Promise<void> {
  const bar = countBar("uploaded", outcomes.length);
  let next = 0;
  let done = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && next < outcomes.length) {
      const outcome = outcomes[next++];
      try {
        // A file that went away or cannot be read since the walk fails alone, as a refused one does.
        const blob = await openAsBlob(outcome.path).catch((error: Error) => error);
        if (blob instanceof Error) outcome.error = `The file cannot be read: ${blob.message}`;
        else {
          const file = await toFile(blob, basename(outcome.path));
          outcome.fileId = (await client.files.create({ file, purpose: "assistants" })).id;
        }
      } catch (error) {
        if (!(error instanceof OpenAI.APIError) || !FILE_REFUSALS.has(error.status ?? 0)) {
          stopped = true;
          throw error;
        }
        outcome.error = serverMessage(error);
      }
      bar.update(++done);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, outcomes.length) }, worker));
  } finally {
    bar.stop();
  }
}

/** Adds the uploaded files in batches and polls until every file is indexed or failed. */
async function ingest(
  client: OpenAI,
  storeId: string,
  outcomes: Outcome[],
  options: { attributes?: Attributes; chunking?: FileBatchCreateParams["chunking_strategy"] },
): Promise<void> {
  let batches: VectorStoreFileBatch[] = [];
  for (let i = 0; i < outcomes.length; i += BATCH_SIZE) {
    const fileIds = outcomes.slice(i, i + BATCH_SIZE).map((o) => o.fileId as string);
    batches.push(
      await client.vectorStores.fileBatches.create(storeId, {
        file_ids: fileIds,
        attributes: options.attributes,
        chunking_strategy: options.chunking,
      }),
    );
  }
  const bar = countBar("indexed", outcomes.length);
  try {
    while (true) {
      const settled = batches.reduce(
        (sum, b) => sum + b.file_counts.completed + b.file_counts.failed + b.file_counts.cancelled,
        0,
      );
      bar.update(settled);
      if (batches.every((b) => b.status !== "in_progress")) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      batches = await Promise.all(
        batches.map((b) =>
          b.status === "in_progress"
            ? client.vectorStores.fileBatches.retrieve(b.id, { vector_store_id: storeId })
            : b,
        ),
      );
    }
  } finally {
    bar.stop();
  }
  const byId = new Map(outcomes.map((o) => [o.fileId, o]));
  for (const batch of batches) {
    for await (const file of client.vectorStores.fileBatches.listFiles(batch.id, {
      vector_store_id: storeId,
      limit: 100,
    })) {
      const outcome = byId.get(file.id);
      if (!outcome) continue;
      if (file.status === "completed") outcome.status = "completed";
      else outcome.error = file.last_error?.message ?? `The file ended ${file.status}.`;
    }
  }
  for (const outcome of outcomes)
    if (outcome.status !== "completed") outcome.error ??= "The server did not list the file in its batch.";
}

/**
 * Files done out of a total: a cli-progress bar on stderr when it is a TTY; elsewhere (CI, logs) a line every
 * 5 s and the last.
 */
function countBar(what: string, total: number): { update(done: number): void; stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `{bar} {value}/{total} files ${what}`,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return { update: (done) => bar.update(done), stop: () => bar.stop() };
  }
  let last = Date.now();
  let value = 0;
  const line = () => process.stderr.write(`${value}/${total} files ${what}\n`);
  return {
    update(done) {
      value = done;
      if (Date.now() - last < 5000) return;
      last = Date.now();
      line();
    },
    stop: line,
  };
}
