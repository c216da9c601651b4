import assert from "node:assert/strict";
import { test } from "node:test";
import { analyze, isChinese } from "../../src/kb/analyze.js";
import { matches } from "../../src/kb/filters.js";
import { CitationParser, notFoundAnswer, passagesMessage, withPassages } from "../../src/kb/grounding.js";
import { lexicalScore } from "../../src/kb/search.js";

test("analyze: Chinese words, NFKC, lower case, English stems, punctuation dropped", () => {
  assert.deepEqual(analyze("Installing ＶＵＥ，然后安装依赖。"), ["instal", "vue", "然后", "安装", "依赖"]);
  assert.deepEqual(analyze("installed"), analyze("installing"));
  assert.deepEqual(analyze("!!! ，。"), []);
  assert.ok(isChinese("如何在 Vue 中使用 v-model?"));
  assert.ok(!isChinese("How do I use v-model in Vue?"));
});

test("citation markers become citations across deltas; other brackets stay text", () => {
  const parser = new CitationParser(3);
  const out = [
    ...parser.push("Ten days a year [1"),
    ...parser.push("]. Apply two weeks ahead 【2】 and [1, 3]. See [7] and [a]."),
    ...parser.end(),
  ];
  const text = out.map((s) => ("text" in s ? s.text : `<${s.cite.join(",")}>`)).join("");
  assert.equal(text, "Ten days a year <1>. Apply two weeks ahead <2> and <1,3>. See [7] and [a].");
  // A bracket still open at the end is text.
  const open = new CitationParser(2);
  const tail = [...open.push("x [1"), ...open.end()];
  assert.equal(tail.map((s) => ("text" in s ? s.text : "?")).join(""), "x [1");
});

test("passages go just before the last user message, numbered with their source", () => {
  const hit = {
    chunk: {
      id: 1,
      storeId: "vs_a",
      fileId: "file-a",
      index: 0,
      text: "十天年假。",
      headingPath: ["手册", "年假"],
      tokens: 4,
    },
    score: 0.8,
    filename: "hr.md",
  };
  const message = passagesMessage([{ n: 1, hit }], "年假有几天?");
  assert.equal(message.role, "system");
  assert.match(message.content, /只根据/);
  assert.match(message.content, /\[1\] hr\.md › 手册 › 年假\n十天年假。/);
  const messages = withPassages(
    [
      { role: "system", content: "s" },
      { role: "user", content: "q1" },
      { role: "assistant", content: "a1" },
      { role: "user", content: "q2" },
    ],
    message,
  );
  assert.deepEqual(
    messages.map((m) => m.role),
    ["system", "user", "assistant", "system", "user"],
  );
  assert.match(notFoundAnswer("年假有几天?"), /没有找到/);
  assert.match(notFoundAnswer("How many days?"), /could not find/);
});

test("filters: comparisons, in/nin, and/or, missing attributes", () => {
  const attrs = { dept: "it", year: 2024, public: true };
  assert.ok(matches({ type: "eq", key: "dept", value: "it" }, attrs));
  assert.ok(!matches({ type: "eq", key: "dept", value: "hr" }, attrs));
  assert.ok(matches({ type: "gte", key: "year", value: 2024 }, attrs));
  assert.ok(!matches({ type: "gt", key: "year", value: "2023" }, attrs));
  assert.ok(matches({ type: "in", key: "dept", value: ["hr", "it"] }, attrs));
  assert.ok(matches({ type: "nin", key: "missing", value: ["x"] }, attrs));
  assert.ok(matches({ type: "ne", key: "missing", value: "x" }, attrs));
  assert.ok(!matches({ type: "lt", key: "missing", value: 1 }, attrs));
  assert.ok(
    matches(
      {
        type: "and",
        filters: [
          { type: "eq", key: "public", value: true },
          {
            type: "or",
            filters: [
              { type: "eq", key: "dept", value: "hr" },
              { type: "lt", key: "year", value: 2030 },
            ],
          },
        ],
      },
      attrs,
    ),
  );
});

test("lexical score: 0 to 1, more for covering more of the query's information", () => {
  assert.equal(lexicalScore(5, 0, 0), 0);
  const all = lexicalScore(10, 10, 10);
  const half = lexicalScore(5, 5, 10);
  assert.ok(all > half && all < 1 && half > 0);
  assert.ok(lexicalScore(30, 10, 10) > all);
});

test("analyze: a letter in brackets inside a word is the word (command references' mnemonics)", () => {
  assert.deepEqual(
    analyze("Lis[t] the contents of an archive [v]erbosely, e[x]tract"),
    analyze("List the contents of an archive verbosely, extract"),
  );
  assert.deepEqual(analyze("see [12] and [ab]"), ["see", "12", "and", "ab"]);
});
