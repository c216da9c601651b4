import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { tinyServerFixture } from "../helpers/server-process.js";

// `edgellm kb`, the built CLI in a child process, against the real server on the tiny synthetic model.

const e2e = tinyServerFixture();

const LEAVE = `# 员工手册

## 休假制度

### 年假
员工入职满一年后，每年享有十天带薪年假。年假需要提前两周在系统中申请，并由直属经理批准。

### 病假
病假需要提供医院证明。每年有五天带薪病假。
`;

const EXPENSES = `# Expenses

## Travel
Travel expenses are reimbursed within 30 days. Submit the receipts in the finance portal.
`;

const VPN =
  "在家办公时，请先安装公司 VPN 客户端，然后用工号和动态口令登录。连接失败时，检查防火墙是否放行了 UDP 1194 端口。\n";

const PARKING = "Visitors park in the east lot. Parking permits are issued at the front desk.\n";

let docs: string;

before(async () => {
  docs = await mkdtemp(join(tmpdir(), "edgellm-kb-cli-"));
  const files: [string, string | Buffer][] = [
    ["handbook/年假.md", LEAVE],
    ["handbook/expenses.md", EXPENSES],
    ["it/网络/vpn.txt", VPN],
    ["parking.txt", PARKING],
    ["logo.png", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0])],
    ["broken.txt", Buffer.from([0, 1, 2, 3, 0, 255, 254, 0, 0, 7])],
    [".drafts/secret.md", "# Secret\n\nnot for the index\n"],
    ["node_modules/pkg/readme.md", "# A package\n"],
  ];
  for (const [path, content] of files) {
    await mkdir(dirname(join(docs, path)), { recursive: true });
    await writeFile(join(docs, path), content);
  }
});

after(async () => {
  await rm(docs, { recursive: true, force: true });
});

const kb = (...args: string[]) => runCli(["kb", ...args, "--url", e2e.server.url]);

/** Runs a kb subcommand with --json and parses what it printed. */
async function kbJson<T>(...args: string[]): Promise<T> {
  const { code, stdout, stderr } = await kb(...args, "--json");
  assert.equal(code, 0, `${args.join(" ")}: ${stderr}`);
  return JSON.parse(stdout) as T;
}

test("create, add a folder, list, search, files, rm and delete by name", async () => {
  const created = await kb("create", "手册");
  assert.equal(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  assert.match(id, /^vs_\S+$/);
  const again = await kb("create", "手册");
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^edgellm kb: a knowledge base named "手册" exists already/);

  // Four files index, the binary one fails, the PNG, the hidden folder and node_modules are skipped.
  const added = await kb("add", "手册", docs, "--attribute", "team=hr", "--attribute", "year=2025");
  assert.equal(added.code, 1, added.stderr);
  assert.match(added.stderr, /Adding 5 files to 手册/);
  assert.match(added.stderr, /5\/5 files uploaded/);
  assert.match(added.stderr, /5\/5 files indexed/);
  assert.match(added.stdout, /^4 completed, 1 failed, in 手册 \(vs_/);
  assert.match(added.stdout, /failed: \S*broken\.txt: The file holds binary data/);
  assert.match(added.stdout, /1 of an unsupported type \(1 \.png\); 2 hidden or node_modules/);
  assert.doesNotMatch(added.stdout, /secret|readme|logo/);

  const listed = await kb("list");
  assert.equal(listed.code, 0, listed.stderr);
  const [header, row] = listed.stdout.trim().split("\n");
  assert.match(header, /^ID\s+NAME\s+COMPLETED\s+FAILED\s+IN PROGRESS\s+SIZE$/);
  assert.match(row, new RegExp(`^${id}\\s+手册\\s+4\\s+1\\s+0\\s+\\d`));
  const stores = await kbJson<{ id: string; file_counts: { completed: number; failed: number } }[]>("list");
  assert.deepEqual(
    stores.map((s) => [s.id, s.file_counts.completed, s.file_counts.failed]),
    [[id, 4, 1]],
  );

  // Search by name or id, in Chinese and English: the right file, its heading path, its text.
  const zh = await kb("search", "手册", "年假", "怎么申请", "-n", "2");
  assert.equal(zh.code, 0, zh.stderr);
  assert.match(zh.stdout, /^1\. [01]\.\d{3} {2}年假\.md {2}员工手册 › 休假制度 › 年假\n {3}.*十天带薪年假/);
  assert.doesNotMatch(zh.stdout, /^3\. /m);
  const en = await kbJson<
    { filename: string; attributes: Record<string, unknown>; heading_path: string[] }[]
  >("search", id, "travel receipts reimbursed");
  assert.equal(en[0]?.filename, "expenses.md");
  assert.deepEqual(en[0]?.heading_path, ["Expenses", "Travel"]);
  assert.deepEqual(en[0]?.attributes, { team: "hr", year: 2025 });
  const vpn = await kb("search", "手册", "VPN 连不上");
  assert.match(vpn.stdout, /^1\. \S+ {2}vpn\.txt/);

  const files = await kb("files", "手册");
  assert.equal(files.code, 0, files.stderr);
  const lines = files.stdout.trim().split("\n");
  assert.match(lines[0], /^FILE ID\s+NAME\s+STATUS\s+CHUNKS\s+SIZE\s+ERROR$/);
  assert.equal(lines.length, 6, files.stdout);
  assert.match(files.stdout, /file-\S+\s+年假\.md\s+completed\s+\d+/);
  assert.match(files.stdout, /file-\S+\s+broken\.txt\s+failed\s+.*The file holds binary data/);

  // rm by file name; the uploaded file is deleted too.
  const removed = await kb("rm", "手册", "broken.txt");
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /^Removed file-\S+ from 手册 \(vs_\S+\) and deleted it\.\n$/);
  const remaining = await kbJson<{ filename: string }[]>("files", "手册");
  assert.deepEqual(remaining.map((f) => f.filename).sort(), [
    "expenses.md",
    "parking.txt",
    "vpn.txt",
    "年假.md",
  ]);

  const deleted = await kb("delete", "手册");
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.match(deleted.stdout, /^Deleted 手册 \(vs_\S+\), and 4 files\.\n$/);
  assert.equal((await kb("list")).stdout, 'No knowledge bases. Create one with "edgellm kb create NAME".\n');
  const left = await e2e.client.files.list();
  assert.equal(left.data.length, 0, "the store's uploaded files went with it");
});

test("static chunking, and an explicitly named file", async () => {
  const { client } = e2e;
  const store = await client.vectorStores.create({ name: "chunked" });
  const added = await kb("add", store.id, join(docs, "parking.txt"), "--chunk-size", "120", "--json");
  assert.equal(added.code, 0, added.stderr);
  const summary = JSON.parse(added.stdout) as {
    completed: { path: string; file_id: string }[];
    failed: unknown[];
  };
  assert.equal(summary.failed.length, 0);
  assert.equal(summary.completed.length, 1);
  const file = await client.vectorStores.files.retrieve(summary.completed[0].file_id, {
    vector_store_id: store.id,
  });
  assert.deepEqual(file.chunking_strategy, {
    type: "static",
    static: { max_chunk_size_tokens: 120, chunk_overlap_tokens: 24 },
  });
  const deleted = await kb("delete", "chunked", "--keep-files");
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.match(deleted.stdout, /1 file kept/);
  await client.files.delete(summary.completed[0].file_id);
});

test("errors: one line, exit 1; usage errors exit 2", async () => {
  const { client } = e2e;
  const missing = await kb("search", "nowhere", "anything");
  assert.equal(missing.code, 1);
  assert.equal(
    missing.stderr,
    'edgellm kb: no knowledge base is named "nowhere" or has that id ("edgellm kb list" shows them).\n',
  );

  // Two stores of one name (made through the API; the CLI refuses to): a name must pick one.
  const a = await client.vectorStores.create({ name: "twin" });
  const b = await client.vectorStores.create({ name: "twin" });
  const ambiguous = await kb("delete", "twin");
  assert.equal(ambiguous.code, 1);
  assert.match(
    ambiguous.stderr,
    /^edgellm kb: 2 knowledge bases are named "twin" \(.*: name one by its id\.\n$/,
  );
  assert.equal((await kb("delete", a.id)).code, 0);

  // The server's own refusal (a query over 4096 characters), in its words.
  const long = await kb("search", b.id, "x".repeat(5000));
  assert.equal(long.code, 1);
  assert.match(long.stderr, /^edgellm kb: [^\n]+\n$/);
  assert.doesNotMatch(long.stderr, /^edgellm kb: 400/);

  const nothing = await kb("add", b.id, join(docs, "logo.png"));
  assert.equal(nothing.code, 1);
  assert.match(nothing.stderr, /no file to add .*1 of an unsupported type \(1 \.png\).*supported: \.txt/);
  const absent = await kb("add", b.id, join(docs, "absent"));
  assert.equal(absent.code, 1);
  assert.match(absent.stderr, /absent: no such file or folder/);
  assert.equal((await kb("delete", b.id)).code, 0);

  const unreachable = await runCli(["kb", "list", "--url", "http://127.0.0.1:9"]);
  assert.equal(unreachable.code, 1);
  assert.match(
    unreachable.stderr,
    /^edgellm kb: cannot reach a server at http:\/\/127\.0\.0\.1:9\. Start one with "edgellm serve"/,
  );

  for (const args of [
    ["search", "x", "y", "-n", "0"],
    ["add", "x", docs, "--chunk-overlap", "10"],
    ["add", "x", docs, "--chunk-size", "200", "--chunk-overlap", "150"],
    ["add", "x", docs, "--attribute", "novalue"],
  ]) {
    const usage = await kb(...args);
    assert.equal(usage.code, 2, `${args.join(" ")}: ${usage.stderr}`);
  }
  const help = await runCli(["kb", "add", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Exit code: 0 if every file was indexed; 1 if any failed/);
});
