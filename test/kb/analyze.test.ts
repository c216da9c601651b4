import assert from "node:assert/strict";
import { test } from "node:test";
import { analyze, innerCharacters, isHanCharacter } from "../../src/kb/analyze.js";

test("a Chinese word of two or more characters gives its characters; a single one or a Latin word none", () => {
  assert.deepEqual(innerCharacters("计算"), ["计", "算"]);
  assert.deepEqual(innerCharacters("v-model绑定"), ["绑", "定"]);
  assert.deepEqual(innerCharacters("算"), []);
  assert.deepEqual(innerCharacters("model"), []);
  // A character outside the Basic Multilingual Plane is one character, not two.
  assert.deepEqual(innerCharacters("\u{20000}"), []);
  assert.ok(isHanCharacter("算"));
  assert.ok(isHanCharacter("\u{20000}"));
  assert.ok(!isHanCharacter("计算"));
  assert.ok(!isHanCharacter("a"));
});

test("the analyzer keeps words ICU knows whole and stems English", () => {
  assert.deepEqual(analyze("计算属性 Installing"), ["计算", "属性", "instal"]);
});
