import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { crc32, deflateRawSync, deflateSync } from "node:zlib";
import { Document, HeadingLevel, Packer, Paragraph, Table, TableCell, TableRow, TextRun } from "docx";
import { PDFDocument, rgb, StandardFonts } from "pdf-lib";
import { extractDocument, SUPPORTED_EXTENSIONS } from "../../src/kb/extract/extract.js";
import { ExtractError, type ExtractErrorCode, type ExtractedDocument } from "../../src/kb/extract/types.js";

const CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../shared/kb-corpus");
const noCorpus = existsSync(CORPUS) ? false : `the shared corpus is not at ${CORPUS}`;

const utf8 = (text: string) => new TextEncoder().encode(text);
const latin1 = (text: string) => Buffer.from(text, "latin1");

async function rejects(promise: Promise<unknown>, code: ExtractErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ExtractError, `an ExtractError, got ${error}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

const texts = (doc: ExtractedDocument) => doc.sections.flatMap((s) => s.blocks.map((b) => b.text));

// --- Text encodings -------------------------------------------------------------------------------------

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * An encoder for a double-byte encoding, from a table built with the platform's own decoder: it writes
 * ASCII as is and every other character as the first two-byte code that decodes to it.
 */
function encoderFor(label: string, leads: number[], trails: number[]): (text: string) => Uint8Array {
  const table = new Map<string, number[]>();
  const decoder = new TextDecoder(label);
  for (const lead of leads) {
    for (const trail of trails) {
      const char = decoder.decode(new Uint8Array([lead, trail]));
      if (char.length === 1 && char !== "\ufffd" && !table.has(char)) table.set(char, [lead, trail]);
    }
  }
  return (text) => {
    const out: number[] = [];
    for (const char of text) {
      const code = char.charCodeAt(0) < 0x80 ? [char.charCodeAt(0)] : table.get(char);
      assert.ok(code, `no ${label} code for ${char}`);
      out.push(...code);
    }
    return new Uint8Array(out);
  };
}

const encodeGb18030 = encoderFor("gb18030", range(0x81, 0xfe), [...range(0x40, 0x7e), ...range(0x80, 0xfe)]);
const encodeBig5 = encoderFor("big5", range(0x81, 0xfe), [...range(0x40, 0x7e), ...range(0xa1, 0xfe)]);
const encodeShiftJis = encoderFor(
  "shift_jis",
  [...range(0x81, 0x9f), ...range(0xe0, 0xfc)],
  [...range(0x40, 0x7e), ...range(0x80, 0xfc)],
);

describe("extractDocument: text and encodings", () => {
  const chinese = "知识库可以导入文本文件。\n\n编码可能是 GB18030，也可能是 UTF-8！系统会自动识别。";

  it("reads UTF-8 with and without a BOM, paragraphs as blocks", async () => {
    for (const bytes of [utf8(chinese), new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(chinese)])]) {
      const doc = await extractDocument(bytes, "notes.txt");
      assert.equal(doc.format, "text");
      assert.equal(doc.encoding, "utf-8");
      assert.deepEqual(doc.sections, [
        {
          headingPath: [],
          blocks: [
            { kind: "text", text: "知识库可以导入文本文件。" },
            { kind: "text", text: "编码可能是 GB18030，也可能是 UTF-8！系统会自动识别。" },
          ],
        },
      ]);
    }
  });

  it("reads UTF-16 with a BOM, little- and big-endian, and CRLF line ends", async () => {
    const le = Buffer.from(`\ufeff${chinese.replace(/\n/g, "\r\n")}`, "utf16le");
    const be = Buffer.from(le).swap16();
    for (const [bytes, encoding] of [
      [le, "utf-16le"],
      [be, "utf-16be"],
    ] as const) {
      const doc = await extractDocument(bytes, "notes.TXT");
      assert.equal(doc.encoding, encoding);
      assert.deepEqual(texts(doc), [
        "知识库可以导入文本文件。",
        "编码可能是 GB18030，也可能是 UTF-8！系统会自动识别。",
      ]);
    }
  });

  it("detects GB18030 (GBK) text, short and long", async () => {
    for (const text of ["中文", chinese.repeat(20)]) {
      const doc = await extractDocument(encodeGb18030(text), "gbk.txt");
      assert.equal(doc.encoding, "gb18030");
      assert.equal(texts(doc).join("\n\n"), text.trim().replace(/\n\n+/g, "\n\n"));
    }
  });

  it("detects Big5 and Shift_JIS paragraphs, and reads other 8-bit text as windows-1252", async () => {
    const big5 = "繁體中文的文件。這是一個測試，看看編碼能不能被正確識別。";
    const big5Doc = await extractDocument(encodeBig5(big5), "big5.txt");
    assert.equal(big5Doc.encoding, "big5");
    assert.deepEqual(texts(big5Doc), [big5]);
    const japanese = "日本語のテキストです。これはテストです。";
    const sjisDoc = await extractDocument(encodeShiftJis(japanese), "sjis.txt");
    assert.equal(sjisDoc.encoding, "shift_jis");
    assert.deepEqual(texts(sjisDoc), [japanese]);
    const latin = "café résumé naïve, Grüße aus München";
    const latinDoc = await extractDocument(latin1(latin), "latin.txt");
    assert.equal(latinDoc.encoding, "windows-1252");
    assert.deepEqual(texts(latinDoc), [latin]);
  });

  it("refuses binary data with a text extension", async () => {
    const png = new Uint8Array([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
    ]);
    await rejects(extractDocument(png, "image.txt"), "binary_content", /binary/);
    const controls = new Uint8Array(400).map((_, i) => (i % 7) + 1);
    await rejects(extractDocument(controls, "data.md"), "binary_content");
  });

  it("refuses an empty or whitespace-only file", async () => {
    await rejects(extractDocument(new Uint8Array(), "empty.txt"), "empty_file", /empty/);
    await rejects(extractDocument(utf8(" \n\t\r\n\u3000 "), "blank.md"), "empty_file");
    await rejects(
      extractDocument(utf8("---\ntitle: x\n---\n<script setup>\nlet a\n</script>\n"), "page.md"),
      "empty_file",
    );
  });

  it("refuses an unknown extension, naming the supported ones", async () => {
    for (const name of ["slides.pptx", "program.exe", "README", "archive.tar.gz"]) {
      await rejects(
        extractDocument(utf8("hello"), name),
        "unsupported_file_type",
        /\.txt, \.md.*\.docx, \.csv, \.json/,
      );
    }
    assert.deepEqual(SUPPORTED_EXTENSIONS, [
      ".txt",
      ".md",
      ".markdown",
      ".html",
      ".htm",
      ".pdf",
      ".docx",
      ".csv",
      ".json",
    ]);
  });
});

// --- Markdown --------------------------------------------------------------------------------------------

describe("extractDocument: Markdown", () => {
  it("makes heading paths of ATX and setext headings, keeps code fenced, tables one row a line", async () => {
    const md = [
      "---",
      'title: "安装指南"',
      "outline: deep",
      "---",
      "",
      "开头的说明。",
      "",
      "安装",
      "====",
      "",
      "先安装 **Node.js**，见[官网](https://nodejs.org)。",
      "",
      "使用 npm {#npm}",
      "--------",
      "",
      "```sh{2}",
      "npm install vue",
      "  # indented comment",
      "```",
      "",
      "| 命令 | 作用 |",
      "| --- | :-: |",
      "| `npm i` | 安装 |",
      "",
      "### 第三级",
      "",
      "- 一",
      "  - 一之一",
      "- [x] 二",
      "",
      "1. first",
      "2. second",
      "",
      "## 配置",
      "",
      "> 引用的话 &amp; 实体",
    ].join("\n");
    const doc = await extractDocument(utf8(md), "guide.markdown");
    assert.equal(doc.format, "markdown");
    assert.equal(doc.title, "安装指南");
    assert.deepEqual(doc.sections, [
      { headingPath: [], blocks: [{ kind: "text", text: "开头的说明。" }] },
      { headingPath: ["安装"], blocks: [{ kind: "text", text: "先安装 Node.js，见官网。" }] },
      {
        headingPath: ["安装", "使用 npm"],
        blocks: [
          { kind: "code", text: "```sh\nnpm install vue\n  # indented comment\n```" },
          { kind: "table", text: "命令 | 作用\n`npm i` | 安装" },
        ],
      },
      {
        headingPath: ["安装", "使用 npm", "第三级"],
        blocks: [
          { kind: "list", text: "- 一\n  - 一之一\n- [x] 二" },
          { kind: "list", text: "1. first\n2. second" },
        ],
      },
      { headingPath: ["安装", "配置"], blocks: [{ kind: "text", text: "引用的话 & 实体" }] },
    ]);
  });

  it("reads VitePress containers as text and skips page scripts", async () => {
    const md = [
      "<script setup>",
      "import Demo from './Demo.vue'",
      "</script>",
      "",
      "# 页面",
      "",
      "::: tip 注意",
      "容器里的文字。",
      "",
      "```js",
      "// ::: inside code stays",
      "```",
      ":::",
      "",
      '<div class="composition-api">',
      "",
      "组合式 API 的说明。",
      "",
      "</div>",
    ].join("\n");
    const doc = await extractDocument(utf8(md), "page.md");
    assert.equal(doc.title, "页面");
    assert.deepEqual(doc.sections, [
      {
        headingPath: ["页面"],
        blocks: [
          { kind: "text", text: "注意" },
          { kind: "text", text: "容器里的文字。" },
          { kind: "code", text: "```js\n// ::: inside code stays\n```" },
          { kind: "text", text: "组合式 API 的说明。" },
        ],
      },
    ]);
  });

  it("reads a real Vue docs page: heading paths, code blocks intact, no markup left", {
    skip: noCorpus,
  }, async () => {
    const file = path.join(CORPUS, "vue-docs-zh/guide/essentials/application.md");
    const source = readFileSync(file, "utf8");
    const doc = await extractDocument(readFileSync(file), file);
    assert.equal(doc.title, "创建一个 Vue 应用");
    const paths = doc.sections.map((s) => s.headingPath.join(" > "));
    assert.deepEqual(paths.slice(0, 4), [
      "创建一个 Vue 应用 > 应用实例",
      "创建一个 Vue 应用 > 根组件",
      "创建一个 Vue 应用 > 挂载应用",
      "创建一个 Vue 应用 > 挂载应用 > DOM 中的根组件模板",
    ]);
    // Every fenced block of the page comes out whole, in order, with its indentation.
    const fences = [...source.matchAll(/^```(\w*).*\n([\s\S]*?)\n```$/gm)].map(
      (m) => `\`\`\`${m[1]}\n${m[2]}\n\`\`\``,
    );
    const code = doc.sections.flatMap((s) => s.blocks.filter((b) => b.kind === "code").map((b) => b.text));
    assert.ok(fences.length >= 10);
    assert.deepEqual(code, fences);
    const prose = doc.sections
      .flatMap((s) => s.blocks.filter((b) => b.kind !== "code").map((b) => b.text))
      .join("\n");
    assert.doesNotMatch(prose, /\{#[\w-]+\}|\*\*|\]\(|^#/m);
  });

  it("reads a real API page with front matter, containers and code inside lists", {
    skip: noCorpus,
  }, async () => {
    const file = path.join(CORPUS, "vue-docs-zh/api/built-in-components.md");
    const doc = await extractDocument(readFileSync(file), file);
    assert.equal(doc.title, "内置组件");
    assert.deepEqual(doc.sections[0].headingPath, ["内置组件"]);
    assert.equal(doc.sections[0].blocks[0].text, "组件注册和使用");
    assert.doesNotMatch(texts(doc).join("\n"), /pageClass|^:::/m);
    const transition = doc.sections.find((s) => s.headingPath[1] === "<Transition>");
    assert.ok(transition);
    assert.ok(
      transition.blocks.some(
        (b) => b.kind === "code" && b.text.startsWith("```ts\ninterface TransitionProps {"),
      ),
    );
  });

  it("reads a tldr page", { skip: noCorpus }, async () => {
    const file = path.join(CORPUS, "tldr-zh/tar.md");
    const doc = await extractDocument(readFileSync(file), file);
    assert.equal(doc.title, "tar");
    assert.equal(doc.sections.length, 1);
    assert.deepEqual(doc.sections[0].headingPath, ["tar"]);
    const all = texts(doc).join("\n");
    assert.match(all, /^`tar cf \{\{/m);
    assert.match(all, /^- /m);
  });
});

// --- HTML ------------------------------------------------------------------------------------------------

describe("extractDocument: HTML", () => {
  it("reads headings, paragraphs, code, tables and lists, skipping scripts and navigation", async () => {
    const html = `<!doctype html><html><head><title>Guide &amp; more</title><style>p { color: red }</style>
      <script>document.write("<p>no</p>")</script></head>
      <body><nav><a href="/">Home</a></nav>
      <h1>安装</h1><p>第一段
        文字，<b>加粗</b>。<br>第二行</p>
      <h2>代码</h2><pre><code class="language-js">if (a &lt; b) {
  run();
}</code></pre>
      <table><thead><tr><th>名称</th><th>值</th></tr></thead><tbody><tr><td>a</td><td>1</td></tr></tbody></table>
      <ul><li>一<ul><li>一之一</li></ul></li><li>二</li></ul>
      <h2>其他</h2><div>结尾 <img alt="示意图" src="x.png"></div></body></html>`;
    const doc = await extractDocument(utf8(html), "page.htm");
    assert.equal(doc.format, "html");
    assert.equal(doc.title, "Guide & more");
    assert.deepEqual(doc.sections, [
      { headingPath: ["安装"], blocks: [{ kind: "text", text: "第一段 文字，加粗。\n第二行" }] },
      {
        headingPath: ["安装", "代码"],
        blocks: [
          { kind: "code", text: "```js\nif (a < b) {\n  run();\n}\n```" },
          { kind: "table", text: "名称 | 值\na | 1" },
          { kind: "list", text: "- 一\n  - 一之一\n- 二" },
        ],
      },
      { headingPath: ["安装", "其他"], blocks: [{ kind: "text", text: "结尾 示意图" }] },
    ]);
  });
});

// --- CSV and JSON ----------------------------------------------------------------------------------------

describe("extractDocument: CSV and JSON", () => {
  it("makes each CSV row a block that names its columns", async () => {
    const csv = '\ufeff名称,价格,备注\n苹果,3.5,"红色, 甜"\n"香蕉",2,\n\n"多行\n说明",1,x\n';
    const doc = await extractDocument(utf8(csv), "fruit.csv");
    assert.equal(doc.format, "csv");
    assert.deepEqual(doc.sections, [
      {
        headingPath: [],
        blocks: [
          { kind: "table", text: "名称: 苹果; 价格: 3.5; 备注: 红色, 甜" },
          { kind: "table", text: "名称: 香蕉; 价格: 2" },
          { kind: "table", text: "名称: 多行 说明; 价格: 1; 备注: x" },
        ],
      },
    ]);
  });

  it("guesses ; and tab delimiters and reads GB18030 CSV", async () => {
    const semicolon = await extractDocument(utf8("name;city\nAda;London, UK\n"), "people.csv");
    assert.deepEqual(texts(semicolon), ["name: Ada; city: London, UK"]);
    const tabs = await extractDocument(encodeGb18030("姓名\t城市\n张三\t北京\n"), "people.csv");
    assert.equal(tabs.encoding, "gb18030");
    assert.deepEqual(texts(tabs), ["姓名: 张三; 城市: 北京"]);
  });

  it("flattens JSON to path: value lines, a block per record", async () => {
    const json = JSON.stringify({
      name: "edgellm",
      install: { npm: "npm i edgellm", steps: ["下载", "安装"] },
      servers: [{ host: "a", port: 1 }, { host: "b" }],
      empty: "",
    });
    const doc = await extractDocument(utf8(json), "config.json");
    assert.equal(doc.format, "json");
    assert.deepEqual(texts(doc), [
      "name: edgellm",
      "install.npm: npm i edgellm\ninstall.steps: 下载, 安装",
      "servers[0].host: a\nservers[0].port: 1\nservers[1].host: b",
    ]);
    const records = await extractDocument(
      utf8('[{"q": "什么是 Vue？", "a": "一个框架。"}, {"q": "x", "tags": [1, 2]}]'),
      "faq.json",
    );
    assert.deepEqual(texts(records), ["q: 什么是 Vue？\na: 一个框架。", "q: x\ntags: 1, 2"]);
    const lines = await extractDocument(utf8('{"a": 1}\n{"a": 2}\n'), "log.json");
    assert.deepEqual(texts(lines), ["a: 1", "a: 2"]);
  });

  it("refuses JSON that does not parse", async () => {
    await rejects(extractDocument(utf8('{"a": 1,'), "broken.json"), "corrupt_file", /not valid JSON/);
  });
});

// --- PDF -------------------------------------------------------------------------------------------------

/** A tiny PDF writer (uncompressed, classic xref), for what pdf-lib cannot make: CJK text with a CMap font, and encryption. */
const PDF_PAD = Buffer.from("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A", "hex");

function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  const s = Array.from({ length: 256 }, (_, i) => i);
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i] + key[i % key.length]) & 255;
    [s[i], s[j]] = [s[j], s[i]];
  }
  const out = Buffer.alloc(data.length);
  for (let k = 0, i = 0, j = 0; k < data.length; k++) {
    i = (i + 1) & 255;
    j = (j + s[i]) & 255;
    [s[i], s[j]] = [s[j], s[i]];
    out[k] = data[k] ^ s[(s[i] + s[j]) & 255];
  }
  return out;
}

const md5 = (...parts: Uint8Array[]) => createHash("md5").update(Buffer.concat(parts)).digest();
const padPassword = (password: string) => Buffer.concat([latin1(password), PDF_PAD]).subarray(0, 32);

interface PdfObject {
  dict: string;
  stream?: Buffer;
}

/**
 * Writes objects (object 1 the catalog) as a PDF; with `encrypt`, under the standard security handler,
 * revision 2 (40-bit RC4, PDF 1.4 section 3.5): streams encrypted with a key from the user password.
 */
function writePdf(objects: PdfObject[], encrypt?: { user: string; owner: string }): Uint8Array {
  const id = Buffer.from("0123456789abcdef0123456789abcdef", "hex");
  let key: Buffer | undefined;
  const all = [...objects];
  if (encrypt) {
    const permissions = Buffer.alloc(4);
    permissions.writeInt32LE(-4);
    const owner = rc4(md5(padPassword(encrypt.owner)).subarray(0, 5), padPassword(encrypt.user));
    key = md5(padPassword(encrypt.user), owner, permissions, id).subarray(0, 5);
    const user = rc4(key, PDF_PAD);
    all.push({
      dict: `<< /Filter /Standard /V 1 /R 2 /O <${owner.toString("hex")}> /U <${user.toString("hex")}> /P -4 >>`,
    });
  }
  const parts: Buffer[] = [latin1("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")];
  let offset = parts[0].length;
  const offsets: number[] = [];
  all.forEach((object, i) => {
    const number = i + 1;
    offsets.push(offset);
    let body: Buffer;
    if (object.stream) {
      let data = object.stream;
      if (key) {
        const suffix = Buffer.alloc(5);
        suffix.writeUIntLE(number, 0, 3);
        data = rc4(md5(key, suffix).subarray(0, 10), data);
      }
      const dict = object.dict.replace(/>>\s*$/, `/Length ${data.length} >>`);
      body = Buffer.concat([
        latin1(`${number} 0 obj\n${dict}\nstream\n`),
        data,
        latin1("\nendstream\nendobj\n"),
      ]);
    } else {
      body = latin1(`${number} 0 obj\n${object.dict}\nendobj\n`);
    }
    parts.push(body);
    offset += body.length;
  });
  const xref = `xref\n0 ${all.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}`;
  const encryption = encrypt
    ? ` /Encrypt ${all.length} 0 R /ID [<${id.toString("hex")}> <${id.toString("hex")}>]`
    : "";
  parts.push(
    latin1(
      `${xref}trailer\n<< /Size ${all.length + 1} /Root 1 0 R${encryption} >>\nstartxref\n${offset}\n%%EOF\n`,
    ),
  );
  return new Uint8Array(Buffer.concat(parts));
}

/** Objects of a PDF whose pages show the given content streams in font F1 (object 3, with `extra` after it). */
function pagesPdf(contents: string[], font: string, extra: PdfObject[] = []): PdfObject[] {
  const objects: PdfObject[] = [
    { dict: "<< /Type /Catalog /Pages 2 0 R >>" },
    { dict: "" },
    { dict: font },
    ...extra,
  ];
  const kids: string[] = [];
  for (const content of contents) {
    const page = objects.length + 1;
    kids.push(`${page} 0 R`);
    objects.push({
      dict: `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents ${page + 1} 0 R >>`,
    });
    objects.push({ dict: "<< >>", stream: latin1(content) });
  }
  objects[1].dict = `<< /Type /Pages /Kids [${kids.join(" ")}] /Count ${kids.length} >>`;
  return objects;
}

const HELVETICA = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";

/** A PNG of grey noise-free stripes: enough for an image-only page. */
function png(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([latin1(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 0; // greyscale
  const rows = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++)
    rows.fill(y % 16 < 8 ? 40 : 220, y * (width + 1) + 1, (y + 1) * (width + 1));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function englishPdf(): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  pdf.setTitle("Quarterly Report");
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const first = pdf.addPage([595, 842]);
  first.drawText("Results", { x: 72, y: 760, size: 20, font });
  first.drawText("Revenue grew in every region. Costs fell slightly; margins", {
    x: 72,
    y: 720,
    size: 12,
    font,
  });
  first.drawText("improved as a result.", { x: 72, y: 705, size: 12, font });
  first.drawText("A second paragraph follows the gap.", { x: 72, y: 670, size: 12, font });
  pdf.addPage([595, 842]); // a blank page: no section of its own
  const third = pdf.addPage([595, 842]);
  third.drawText("Outlook for next year.", { x: 72, y: 760, size: 12, font });
  return pdf.save();
}

describe("extractDocument: PDF", () => {
  it("reads the text layer page by page, joining wrapped lines into paragraphs", async () => {
    const bytes = await englishPdf();
    const copy = bytes.slice();
    const doc = await extractDocument(bytes, "report.pdf");
    assert.deepEqual(bytes, copy, "the caller's bytes are left as they were");
    assert.equal(doc.format, "pdf");
    assert.equal(doc.pages, 3);
    assert.equal(doc.title, "Quarterly Report");
    assert.deepEqual(doc.sections, [
      {
        headingPath: [],
        page: 1,
        blocks: [
          { kind: "text", text: "Results" },
          {
            kind: "text",
            text: "Revenue grew in every region. Costs fell slightly; margins improved as a result.",
          },
          { kind: "text", text: "A second paragraph follows the gap." },
        ],
      },
      { headingPath: [], page: 3, blocks: [{ kind: "text", text: "Outlook for next year." }] },
    ]);
  });

  it("reads Chinese text in a CID font that is not embedded (pdf.js's own CMaps)", async () => {
    const ucs2 = (text: string) => `<${Buffer.from(text, "utf16le").swap16().toString("hex")}>`;
    const objects = pagesPdf(
      [`BT /F1 14 Tf 72 760 Td ${ucs2("你好，世界。这是第一句！")} Tj 0 -20 Td ${ucs2("第二句？")} Tj ET\n`],
      "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [4 0 R] >>",
      [
        {
          dict: "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> /FontDescriptor 5 0 R >>",
        },
        {
          dict: "<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>",
        },
      ],
    );
    const doc = await extractDocument(writePdf(objects), "中文.pdf");
    assert.deepEqual(doc.sections, [
      { headingPath: [], page: 1, blocks: [{ kind: "text", text: "你好，世界。这是第一句！第二句？" }] },
    ]);
  });

  it("refuses a PDF with no text layer, saying OCR is not supported", async () => {
    const pdf = await PDFDocument.create();
    const image = await pdf.embedPng(png(200, 100));
    for (let i = 0; i < 2; i++) {
      const page = pdf.addPage([595, 842]);
      page.drawImage(image, { x: 50, y: 500, width: 400, height: 200 });
      page.drawRectangle({ x: 50, y: 50, width: 100, height: 100, color: rgb(0.5, 0.5, 0.5) });
    }
    await rejects(extractDocument(await pdf.save(), "scan.pdf"), "no_text_layer", /OCR/);
  });

  it("refuses a PDF that needs a password, and reads one that only has an owner password", async () => {
    const objects = pagesPdf(["BT /F1 12 Tf 72 760 Td (Secret plans.) Tj ET\n"], HELVETICA);
    await rejects(
      extractDocument(writePdf(objects, { user: "secret", owner: "owner" }), "locked.pdf"),
      "encrypted_file",
      /password/,
    );
    const restricted = await extractDocument(
      writePdf(objects, { user: "", owner: "owner" }),
      "restricted.pdf",
    );
    assert.deepEqual(texts(restricted), ["Secret plans."]);
  });

  it("refuses a truncated or corrupt PDF", async () => {
    const bytes = await englishPdf();
    for (const cut of [0.3, 0.7, 0.95]) {
      await rejects(
        extractDocument(bytes.subarray(0, Math.floor(bytes.length * cut)), "cut.pdf"),
        "corrupt_file",
      );
    }
    const plain = writePdf(pagesPdf(["BT /F1 12 Tf 72 760 Td (Whole.) Tj ET\n"], HELVETICA));
    await rejects(
      extractDocument(plain.subarray(0, Math.floor(plain.length / 2)), "cut.pdf"),
      "corrupt_file",
    );
    await rejects(extractDocument(utf8("just some text"), "fake.pdf"), "corrupt_file", /not a readable PDF/);
  });
});

// --- DOCX ------------------------------------------------------------------------------------------------

interface ZipEntry {
  name: string;
  data: Buffer;
  /** The uncompressed size to declare, when it should lie. */
  declare?: number;
}

/** A ZIP archive (deflated entries), written by hand so that sizes can be made to lie. */
function zip(entries: ZipEntry[]): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const packed = deflateRawSync(entry.data);
    const size = entry.declare ?? entry.data.length;
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    centrals.push(central, name);
    offset += local.length + name.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, directory, end]));
}

/** The parts of a minimal DOCX around a document.xml body. */
function docxParts(body: string): ZipEntry[] {
  return [
    {
      name: "[Content_Types].xml",
      data: Buffer.from(
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
      ),
    },
    {
      name: "_rels/.rels",
      data: Buffer.from(
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
      ),
    },
    {
      name: "word/document.xml",
      data: Buffer.from(
        `<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>`,
      ),
    },
  ];
}

const paragraph = (text: string) => `<w:p><w:r><w:t>${text}</w:t></w:r></w:p>`;

describe("extractDocument: DOCX", () => {
  it("reads headings as heading paths, tables, lists and Chinese text from a real DOCX", async () => {
    const cell = (text: string) => new TableCell({ children: [new Paragraph(text)] });
    const document = new Document({
      title: "安装指南",
      sections: [
        {
          children: [
            new Paragraph({ text: "安装指南", heading: HeadingLevel.TITLE }),
            new Paragraph({ text: "前言。" }),
            new Paragraph({ text: "安装", heading: HeadingLevel.HEADING_1 }),
            new Paragraph({
              children: [new TextRun("首先下载安装包。"), new TextRun({ text: "然后运行它！", bold: true })],
            }),
            new Paragraph({ text: "使用 npm", heading: HeadingLevel.HEADING_2 }),
            new Paragraph({ text: "运行 npm install。", bullet: { level: 0 } }),
            new Paragraph({ text: "检查版本。", bullet: { level: 0 } }),
            new Table({
              rows: [
                new TableRow({ children: [cell("命令"), cell("作用")] }),
                new TableRow({ children: [cell("npm i"), cell("安装依赖")] }),
              ],
            }),
            new Paragraph({ text: "配置", heading: HeadingLevel.HEADING_1 }),
            new Paragraph({ text: "编辑配置文件。" }),
          ],
        },
      ],
    });
    const doc = await extractDocument(await Packer.toBuffer(document), "指南.docx");
    assert.equal(doc.format, "docx");
    assert.equal(doc.title, "安装指南");
    assert.deepEqual(doc.sections, [
      {
        headingPath: [],
        blocks: [
          { kind: "text", text: "安装指南" },
          { kind: "text", text: "前言。" },
        ],
      },
      { headingPath: ["安装"], blocks: [{ kind: "text", text: "首先下载安装包。然后运行它！" }] },
      {
        headingPath: ["安装", "使用 npm"],
        blocks: [
          { kind: "list", text: "- 运行 npm install。\n- 检查版本。" },
          { kind: "table", text: "命令 | 作用\nnpm i | 安装依赖" },
        ],
      },
      { headingPath: ["配置"], blocks: [{ kind: "text", text: "编辑配置文件。" }] },
    ]);
  });

  it("takes the title from the Title style when the properties name none", async () => {
    const document = new Document({
      sections: [
        {
          children: [
            new Paragraph({ text: "年度总结", heading: HeadingLevel.TITLE }),
            new Paragraph("正文。"),
          ],
        },
      ],
    });
    const doc = await extractDocument(await Packer.toBuffer(document), "report.docx");
    assert.equal(doc.title, "年度总结");
  });

  it("reads a minimal hand-made DOCX", async () => {
    const doc = await extractDocument(zip(docxParts(paragraph("手工制作的文档。"))), "min.docx");
    assert.deepEqual(texts(doc), ["手工制作的文档。"]);
  });

  it("refuses a zip bomb by its declared size, its ratio, or sizes that lie", async () => {
    const big = paragraph("x".repeat(3 * 1024 * 1024));
    await rejects(
      extractDocument(zip(docxParts(big)), "big.docx", { maxExpandedBytes: 1024 * 1024 }),
      "too_large",
      /more than 1 MiB/,
    );
    // 30 MiB of one repeated byte: about 30 KB packed, a ratio no document has.
    const bomb = docxParts(paragraph("a".repeat(30 * 1024 * 1024)));
    await rejects(extractDocument(zip(bomb), "bomb.docx"), "too_large", /times/);
    // Declared small, inflates larger: caught while inflating, before the parser sees it.
    const liar = docxParts(paragraph("b".repeat(2 * 1024 * 1024)));
    liar[2].declare = 1000;
    await rejects(extractDocument(zip(liar), "liar.docx"), "too_large", /more than they declare/);
    await rejects(extractDocument(zip(liar), "liar.docx", { maxExpandedBytes: 64 * 1024 }), "too_large");
  });

  it("refuses a DOCX that is not a ZIP, lacks its document, is encrypted, or is an old .doc", async () => {
    await rejects(extractDocument(utf8("not a zip at all"), "fake.docx"), "corrupt_file", /not a valid ZIP/);
    const parts = docxParts(paragraph("x")).slice(0, 2);
    await rejects(extractDocument(zip(parts), "hollow.docx"), "corrupt_file", /word\/document\.xml/);
    const ole = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
    const encrypted = Buffer.concat([
      Buffer.from(ole),
      Buffer.alloc(504),
      Buffer.from("EncryptedPackage", "utf16le"),
    ]);
    await rejects(extractDocument(encrypted, "locked.docx"), "encrypted_file", /password/);
    await rejects(
      extractDocument(Buffer.concat([Buffer.from(ole), Buffer.alloc(504)]), "old.docx"),
      "unsupported_file_type",
      /\.doc/,
    );
    const xml = docxParts("<w:p><w:r><w:t>unclosed</w:r></w:p>");
    await rejects(extractDocument(zip(xml), "broken.docx"), "corrupt_file");
  });
});
