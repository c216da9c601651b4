// What every format adapter shares: whitespace normalisation of a block by its kind, and a builder that turns
// a stream of headings and blocks into sections with heading paths.
import type { BlockKind, Section } from "./types.js";

const SPACES = /[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+/g;
const INVISIBLE = /[\u200b-\u200d\u2060\ufeff]/g;
/** Anything normalisation would change in prose or a table row (most blocks have none: skip the work). */
const UNTIDY = /[\r\t\f\v\u00a0\u1680\u2000-\u200d\u2060\u202f\u205f\u3000\ufeff]| [ \n]|\n[ \n]|^\s|\s$/;

/**
 * Normalises a block's whitespace: prose and table rows get single spaces and no empty lines (prose keeps one
 * blank line between paragraphs), list items keep their indentation, code keeps every line as it is but for
 * trailing spaces and blank lines at either end. Returns "" for a block with no text.
 */
export function normalizeBlockText(kind: BlockKind, text: string): string {
  if ((kind === "text" || kind === "table") && !UNTIDY.test(text)) return text;
  let t = text.includes("\r") ? text.replace(/\r\n?/g, "\n") : text;
  t = t.replace(INVISIBLE, "");
  if (kind === "code") return t.replace(/[ \t]+$/gm, "").replace(/^\n+|\n+$/g, "");
  if (kind === "list") {
    // Leading spaces are the nesting: keep them, collapse the rest.
    return t
      .split("\n")
      .map((line) => {
        const body = line.replace(SPACES, " ").trim();
        return body === "" ? "" : (/^ */.exec(line)?.[0] ?? "") + body;
      })
      .filter((line) => line !== "")
      .join("\n");
  }
  t = t.replace(SPACES, " ").replace(/ ?\n ?/g, "\n");
  return (kind === "text" ? t.replace(/\n{3,}/g, "\n\n") : t.replace(/\n+/g, "\n")).trim();
}

/** Heading text on one line, single-spaced. */
export function normalizeInline(text: string): string {
  return text.replace(INVISIBLE, "").replace(/\s+/g, " ").trim();
}

/**
 * Collects blocks under the headings seen so far. A heading of level n closes every open heading of level
 * n or deeper; a section is made only when a block arrives, so a heading with nothing under it makes none.
 */
export class SectionBuilder {
  readonly sections: Section[] = [];
  private readonly open: { level: number; text: string }[] = [];
  private current: Section | undefined;

  heading(level: number, text: string): void {
    const clean = normalizeInline(text);
    if (clean === "") return;
    while (this.open.length > 0 && this.open[this.open.length - 1].level >= level) this.open.pop();
    this.open.push({ level, text: clean });
    this.current = undefined;
  }

  add(kind: BlockKind, text: string): void {
    const clean = normalizeBlockText(kind, text);
    if (clean === "") return;
    if (!this.current) {
      this.current = { headingPath: this.open.map((h) => h.text), blocks: [] };
      this.sections.push(this.current);
    }
    this.current.blocks.push({ kind, text: clean });
  }
}
