import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI, { toFile } from "openai";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { refusal } from "../helpers/refusal.js";
import { startServerProcess, tinyServerFixture } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// The knowledge base on the real `edgellm serve` (tiny synthetic model), driven by the official openai SDK:
// files, vector stores, batches, search, and grounded answers through Responses' file_search and chat
// completions. The model's answers are noise: retrieval, shapes, citations and errors are asserted.

const e2e = tinyServerFixture(["--ctx-size", "2048"]);

const LEAVE = `# 员工手册

## 休假制度

### 年假
员工入职满一年后，每年享有十天带薪年假。年假需要提前两周在系统中申请，并由直属经理批准。未休完的年假可以顺延到下一年的三月底。

### 病假
病假需要提供医院证明。每年有五天带薪病假。

## Expenses
Travel expenses are reimbursed within 30 days. Submit the receipts in the finance portal, and your manager approves each claim.
`;

const VPN = `# 网络与安全

## VPN 连接
在家办公时，请先安装公司 VPN 客户端，然后用工号和动态口令登录。连接失败时，检查防火墙是否放行了 UDP 1194 端口。
`;

async function md(name: string, text: string) {
  return toFile(Buffer.from(text), name);
}

async function waitCompleted(client: OpenAI, storeId: string) {
  for (let i = 0; i < 600; i++) {
    const store = await client.vectorStores.retrieve(storeId);
    if (store.status === "completed") return store;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("the vector store never completed");
}

test("files: upload, list, retrieve, content, delete through the SDK", async () => {
  const { client } = e2e;
  const file = await client.files.create({ file: await md("手册.md", LEAVE), purpose: "assistants" });
  assert.match(file.id, /^file-/);
  assert.equal(file.filename, "手册.md");
  assert.equal(file.bytes, Buffer.byteLength(LEAVE));
  assert.equal((await client.files.retrieve(file.id)).filename, "手册.md");
  const listed = await client.files.list();
  assert.ok(listed.data.some((f) => f.id === file.id));
  assert.equal(await (await client.files.content(file.id)).text(), LEAVE);
  assert.deepEqual(await client.files.delete(file.id), { id: file.id, object: "file", deleted: true });
  assert.equal((await refusal(client.files.retrieve(file.id))).status, 404);
});

test("a vector store: ingest with chunks along headings, search in Chinese and English", async () => {
  const { client } = e2e;
  const handbook = await client.files.create({ file: await md("handbook.md", LEAVE), purpose: "assistants" });
  const vpn = await client.files.create({ file: await md("network.md", VPN), purpose: "assistants" });
  const created = await client.vectorStores.create({
    name: "公司手册",
    file_ids: [handbook.id, vpn.id],
    metadata: { team: "hr" },
  });
  assert.match(created.id, /^vs_/);
  const store = await waitCompleted(client, created.id);
  assert.deepEqual(store.file_counts, { in_progress: 0, completed: 2, failed: 0, cancelled: 0, total: 2 });
  assert.ok(store.usage_bytes > 0);

  const files = await client.vectorStores.files.list(store.id);
  assert.equal(files.data.length, 2);
  for (const f of files.data) assert.equal(f.status, "completed");

  // The parsed content: chunks with their heading path.
  const content = await client.vectorStores.files.content(handbook.id, { vector_store_id: store.id });
  const chunks = [] as { text: string; heading_path: string[] }[];
  for await (const c of content) chunks.push(c as unknown as { text: string; heading_path: string[] });
  const annual = chunks.find((c) => c.text.includes("十天带薪年假"));
  assert.ok(annual, JSON.stringify(chunks));
  assert.deepEqual(annual.heading_path, ["员工手册", "休假制度", "年假"]);

  const zh = await client.vectorStores.search(store.id, { query: "年假怎么申请?" });
  const first = zh.data[0];
  assert.ok(first, "no result");
  assert.equal(first.file_id, handbook.id);
  assert.equal(first.filename, "handbook.md");
  assert.match(first.content[0]?.text ?? "", /年假/);
  assert.ok(first.score > 0 && first.score <= 1);

  const en = await client.vectorStores.search(store.id, {
    query: "how are travel receipts reimbursed",
    max_num_results: 1,
  });
  assert.equal(en.data.length, 1);
  assert.match(en.data[0]?.content[0]?.text ?? "", /reimbursed/);

  const vpnHit = await client.vectorStores.search(store.id, { query: "VPN 连不上怎么办" });
  assert.equal(vpnHit.data[0]?.file_id, vpn.id);

  // Attribute filters.
  await client.vectorStores.files.update(vpn.id, { vector_store_id: store.id, attributes: { dept: "it" } });
  const filtered = await client.vectorStores.search(store.id, {
    query: "VPN 年假",
    filters: { type: "eq", key: "dept", value: "it" },
  });
  assert.ok(filtered.data.length > 0);
  for (const r of filtered.data) assert.equal(r.file_id, vpn.id);

  // A threshold above every score leaves nothing.
  const none = await client.vectorStores.search(store.id, {
    query: "年假",
    ranking_options: { score_threshold: 1 },
  });
  assert.equal(none.data.length, 0);
});

test("file batches: uploadAndPoll, list its files, and failures in words", async () => {
  const { client } = e2e;
  const store = await client.vectorStores.create({ name: "batch" });
  const batch = await client.vectorStores.fileBatches.uploadAndPoll(store.id, {
    files: [
      await md("a.md", "# A\n\nApples are red."),
      await toFile(Buffer.from("name,colour\nbanana,yellow\n"), "fruit.csv"),
      await toFile(Buffer.from(JSON.stringify({ fruit: { cherry: "dark red" } })), "fruit.json"),
      await toFile(
        Buffer.from("<html><body><h1>Grapes</h1><p>Grapes grow on vines.</p></body></html>"),
        "g.html",
      ),
      await toFile(Buffer.from(""), "empty.txt"),
      await toFile(Buffer.from([0, 1, 2, 3, 0, 255, 254, 0, 0, 7]), "binary.txt"),
    ],
  });
  assert.equal(batch.status, "completed");
  assert.equal(batch.file_counts.total, 6);
  assert.equal(batch.file_counts.completed, 4);
  assert.equal(batch.file_counts.failed, 2);
  const failed = await client.vectorStores.fileBatches.listFiles(batch.id, {
    vector_store_id: store.id,
    filter: "failed",
  });
  assert.equal(failed.data.length, 2);
  for (const f of failed.data) {
    assert.ok(f.last_error, "a failed file says why");
    assert.ok(["invalid_file", "unsupported_file"].includes(f.last_error.code));
    assert.ok(f.last_error.message.length > 10, f.last_error.message);
  }
  const hit = await client.vectorStores.search(store.id, { query: "banana" });
  assert.match(hit.data[0]?.content[0]?.text ?? "", /yellow/);
});

test("Responses file_search: a file_search_call with results, and file_citation annotations", async () => {
  const { client } = e2e;
  const file = await client.files.create({ file: await md("handbook.md", LEAVE), purpose: "assistants" });
  const store = await client.vectorStores.create({ name: "r", file_ids: [file.id] });
  await waitCompleted(client, store.id);
  const response = await client.responses.create({
    model: "local",
    input: "年假需要提前多久申请?",
    tools: [{ type: "file_search", vector_store_ids: [store.id], max_num_results: 2 }],
    include: ["file_search_call.results"],
    max_output_tokens: 12,
  });
  const call = response.output[0];
  assert.equal(call?.type, "file_search_call");
  assert.equal(call.status, "completed");
  assert.deepEqual(call.queries, ["年假需要提前多久申请?"]);
  assert.ok(call.results && call.results.length > 0);
  assert.equal(call.results[0]?.file_id, file.id);
  const message = response.output[1];
  assert.equal(message?.type, "message");
  const text = message.content[0];
  assert.equal(text?.type, "output_text");
  assert.ok(text.annotations.length > 0, "the answer cites its passages");
  for (const a of text.annotations) {
    assert.equal(a.type, "file_citation");
    assert.equal(a.type === "file_citation" && a.file_id, file.id);
    assert.equal(a.type === "file_citation" && a.filename, "handbook.md");
  }
  assert.ok(response.tools.some((t) => t.type === "file_search"));
  // The grounded prompt held the passages: more tokens than the question alone.
  assert.ok((response.usage?.input_tokens ?? 0) > 60, String(response.usage?.input_tokens));

  // Without include, the results are not listed.
  const bare = await client.responses.create({
    model: "local",
    input: "年假需要提前多久申请?",
    tools: [{ type: "file_search", vector_store_ids: [store.id] }],
    max_output_tokens: 4,
  });
  assert.equal(bare.output[0]?.type === "file_search_call" && bare.output[0].results, null);

  // Streaming: the file search's events, then the text, the annotations, completed.
  const events: ResponseStreamEvent[] = [];
  const stream = await client.responses.create({
    model: "local",
    input: "How are travel expenses reimbursed?",
    tools: [{ type: "file_search", vector_store_ids: [store.id] }],
    max_output_tokens: 8,
    stream: true,
  });
  for await (const event of stream) events.push(event);
  const types = events.map((e) => e.type);
  const order = [
    "response.created",
    "response.output_item.added",
    "response.file_search_call.in_progress",
    "response.file_search_call.searching",
    "response.file_search_call.completed",
    "response.output_item.done",
    "response.output_text.annotation.added",
  ];
  assert.ok(["response.completed", "response.incomplete"].includes(types.at(-1) ?? ""));
  let at = -1;
  for (const type of order) {
    const next = types.indexOf(type as ResponseStreamEvent["type"], at + 1);
    assert.ok(next > at, `${type} missing or out of order in ${types.join(", ")}`);
    at = next;
  }
});

test("nothing relevant: the answer says so in the question's language, without the model", async () => {
  const { client } = e2e;
  const file = await client.files.create({ file: await md("network.md", VPN), purpose: "assistants" });
  const store = await client.vectorStores.create({ name: "n", file_ids: [file.id] });
  await waitCompleted(client, store.id);
  const zh = await client.responses.create({
    model: "local",
    input: "公司的股票期权什么时候归属?",
    tools: [{ type: "file_search", vector_store_ids: [store.id] }],
  });
  assert.match(zh.output_text, /没有找到/);
  assert.equal(zh.usage?.output_tokens, 0);
  const en = await client.chat.completions.create({
    messages: [{ role: "user", content: "When do stock options vest?" }],
    // @ts-expect-error edgellm's extension
    file_search: { vector_store_ids: [store.id] },
  });
  assert.match(en.choices[0]?.message.content ?? "", /could not find/);
  assert.deepEqual((en as unknown as { citations: unknown[] }).citations, []);
});

test("chat completions: file_search field and kb: model names carry citations", async () => {
  const { client, server } = e2e;
  const file = await client.files.create({ file: await md("handbook.md", LEAVE), purpose: "assistants" });
  const store = await client.vectorStores.create({ name: "员工手册库", file_ids: [file.id] });
  await waitCompleted(client, store.id);
  const body = await client.chat.completions.create({
    messages: [{ role: "user", content: "病假需要什么证明?" }],
    max_tokens: 4,
    // @ts-expect-error edgellm's extension
    file_search: { vector_store_ids: [store.id] },
  });
  const citations = (
    body as unknown as { citations: { index: number; file_id: string; heading_path: string[] }[] }
  ).citations;
  assert.ok(citations.length > 0);
  assert.equal(citations[0]?.index, 1);
  assert.equal(citations[0]?.file_id, file.id);
  assert.ok(citations.some((c) => c.heading_path.includes("病假")));

  // Streamed, by store name as the model: citations on the first chunk.
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "kb:员工手册库",
      messages: [{ role: "user", content: "病假需要什么证明?" }],
      max_tokens: 4,
      stream: true,
    }),
  });
  assert.equal(res.status, 200);
  const first = (await res.text()).split("\n").find((l) => l.startsWith("data: {"));
  assert.ok(first);
  const chunk = JSON.parse(first.slice(6)) as { citations?: { file_id: string }[] };
  assert.equal(chunk.citations?.[0]?.file_id, file.id);

  assert.equal(
    (
      await refusal(
        client.chat.completions.create({ model: "kb:nope", messages: [{ role: "user", content: "x" }] }),
      )
    ).status,
    404,
  );
});

test("bad input: a clear OpenAI-style error and nothing stored", async () => {
  const { client, server } = e2e;
  const store = await client.vectorStores.create({ name: "bad" });
  // The SDK sends a file's base name; a raw form can send anything.
  for (const name of ["../etc/passwd", "a/b.md", "..", "x\u0007.md", `${"n".repeat(300)}.md`]) {
    const boundary = "----edgellm-test";
    const form = Buffer.concat([
      Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\nassistants\r\n`),
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${name}"\r\n\r\ntext\r\n`,
      ),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
    const res = await fetch(`${server.url}/v1/files`, {
      method: "POST",
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      body: form,
    });
    assert.equal(res.status, 400, name);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "unsupported_file", name);
  }
  assert.equal((await client.files.list()).data.filter((f) => f.filename === "passwd").length, 0);
  assert.equal(
    (await refusal(client.files.create({ file: await md("a.md", "x"), purpose: "nonsense" as "assistants" })))
      .status,
    400,
  );
  const missing = await refusal(client.vectorStores.files.create(store.id, { file_id: "file-nope" }));
  assert.equal(missing.status, 404);
  assert.equal((await refusal(client.vectorStores.retrieve("vs_nope"))).status, 404);
  assert.equal((await refusal(client.vectorStores.search(store.id, { query: "" }))).status, 400);
  assert.equal(
    (await refusal(client.vectorStores.search(store.id, { query: "x".repeat(1 << 20) }))).status,
    400,
  );
  const wrongFilter = await refusal(
    client.vectorStores.search(store.id, { query: "x", filters: { type: "eq", key: "a" } as never }),
  );
  assert.equal(wrongFilter.status, 400);
  // Filters nested 5000 deep, sent raw (the SDK's own serializer would overflow first).
  const deep = `${'{"type":"and","filters":['.repeat(5000)}{"type":"eq","key":"a","value":1}${"]}".repeat(5000)}`;
  const deepRes = await fetch(`${server.url}/v1/vector_stores/${store.id}/search`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: `{"query":"x","filters":${deep}}`,
  });
  assert.equal(deepRes.status, 400);
  const noFiles = await refusal(client.vectorStores.fileBatches.create(store.id, { file_ids: [] }));
  assert.equal(noFiles.status, 400);
  // Not multipart.
  const res = await fetch(`${server.url}/v1/files`, {
    method: "POST",
    body: JSON.stringify({ purpose: "assistants" }),
  });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { error: { type: string } }).error.type, "invalid_request_error");
  // A built-in tool other than file_search is left out and named; forced, it is refused by name.
  const { response: offered } = await client.responses
    .create({
      model: "local",
      input: "x",
      tools: [{ type: "file_search", vector_store_ids: [store.id] }, { type: "web_search" }],
      max_output_tokens: 4,
    })
    .withResponse();
  assert.equal(offered.headers.get("x-edgellm-tools-ignored"), "web_search");
  const tool = await refusal(
    client.responses.create({
      model: "local",
      input: "x",
      tools: [{ type: "web_search" }],
      tool_choice: { type: "web_search_preview" },
    }),
  );
  assert.equal(tool.code, "unsupported_tool");
});

test("a file or store deleted while it is ingested or searched leaves nothing behind", async () => {
  const { client } = e2e;
  const big = Array.from(
    { length: 400 },
    (_, i) => `## Section ${i}\n\nParagraph ${i} about topic ${i % 17}.`,
  ).join("\n\n");
  const file = await client.files.create({ file: await md("big.md", big), purpose: "assistants" });
  const store = await client.vectorStores.create({ name: "del", file_ids: [file.id] });
  await client.files.delete(file.id);
  await new Promise((r) => setTimeout(r, 500));
  const after = await client.vectorStores.retrieve(store.id);
  assert.equal(after.file_counts.total, 0);
  const searched = client.vectorStores.search(store.id, { query: "topic" });
  await client.vectorStores.delete(store.id);
  const outcome = await searched.then(
    (r) => r.data.length,
    (e: unknown) => (e as { status?: number }).status,
  );
  assert.ok(outcome === 0 || outcome === 404 || typeof outcome === "number");
  assert.equal((await refusal(client.vectorStores.search(store.id, { query: "topic" }))).status, 404);
});

test("another API key's files and stores are unknown to a key", async () => {
  const server = await startServerProcess(["--model", await tinyModelPath(), "--threads", "1"], {
    EDGELLM_API_KEY: "key-one-0123456789,key-two-0123456789",
  });
  try {
    const one = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "key-one-0123456789", maxRetries: 0 });
    const two = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "key-two-0123456789", maxRetries: 0 });
    const file = await one.files.create({ file: await md("mine.md", LEAVE), purpose: "assistants" });
    const store = await one.vectorStores.create({ name: "mine", file_ids: [file.id] });
    assert.equal((await refusal(two.files.retrieve(file.id))).status, 404);
    assert.equal((await refusal(two.vectorStores.retrieve(store.id))).status, 404);
    assert.equal((await refusal(two.vectorStores.search(store.id, { query: "年假" }))).status, 404);
    assert.equal((await two.vectorStores.list()).data.length, 0);
    assert.equal((await two.files.list()).data.length, 0);
    assert.equal((await refusal(two.vectorStores.create({ file_ids: [file.id] }))).status, 404);
    const chat = await refusal(
      two.responses.create({
        model: "local",
        input: "年假",
        tools: [{ type: "file_search", vector_store_ids: [store.id] }],
      }),
    );
    assert.equal(chat.status, 404);
  } finally {
    await server.stop();
  }
});
