// HTML -> sections, with node-html-parser (fast, tolerant of broken markup). h1-h6 make the heading path;
// <pre> is code, <table> one row a line, <ul>/<ol> one item a line; other elements give paragraphs of text.
// Page furniture is skipped: <script>, <style>, <nav> and the like; when the page has a <main> (or else one
// <article>), only that is read.
import { type HTMLElement, type Node, NodeType, parse } from "node-html-parser";
import { normalizeInline, SectionBuilder } from "./sections.js";
import type { Section } from "./types.js";

export interface HtmlDocument {
  sections: Section[];
  title?: string;
}

const SKIPPED = new Set([
  "head",
  "script",
  "style",
  "noscript",
  "template",
  "svg",
  "math",
  "canvas",
  "iframe",
  "object",
  "embed",
  "nav",
  "select",
  "button",
  "input",
  "textarea",
]);

/** Elements that end the paragraph before them and start a new one after. */
const BREAKING = new Set([
  "p",
  "div",
  "section",
  "article",
  "main",
  "header",
  "footer",
  "aside",
  "blockquote",
  "figure",
  "figcaption",
  "address",
  "details",
  "summary",
  "dl",
  "dt",
  "dd",
  "form",
  "fieldset",
  "legend",
  "center",
  "hr",
  "li",
  "body",
  "html",
]);

export function extractHtml(html: string): HtmlDocument {
  // The parser would keep a doctype or XML prolog as text.
  const body = html.replace(/^\s*(?:<\?xml[^>]*>\s*)?(?:<!doctype[^>]*>)?/i, "");
  const root = parse(body, { blockTextElements: { script: true, style: true, noscript: true } });
  const builder = new SectionBuilder();
  const walker = new Walker(builder);
  const main =
    root.querySelector("main") ??
    (root.querySelectorAll("article").length === 1 ? root.querySelector("article") : null);
  walker.children(main ?? root);
  walker.flush();
  const title = normalizeInline(root.querySelector("title")?.text ?? "") || walker.firstH1;
  return title ? { sections: builder.sections, title } : { sections: builder.sections };
}

class Walker {
  firstH1: string | undefined;
  /** The paragraph being collected: text with whitespace collapsed, "\n" for <br>. */
  private inline = "";

  constructor(private readonly out: SectionBuilder) {}

  children(element: HTMLElement): void {
    for (const child of element.childNodes) this.node(child);
  }

  flush(): void {
    this.out.add("text", this.inline);
    this.inline = "";
  }

  private node(node: Node): void {
    if (node.nodeType === NodeType.TEXT_NODE) {
      this.inline += node.text.replace(/[ \t\r\n\f]+/g, " ");
      return;
    }
    if (node.nodeType !== NodeType.ELEMENT_NODE) return;
    const element = node as HTMLElement;
    const tag = element.rawTagName?.toLowerCase() ?? "";
    if (SKIPPED.has(tag)) return;
    const heading = /^h([1-6])$/.exec(tag);
    if (heading) {
      this.flush();
      const text = normalizeInline(element.text);
      this.out.heading(Number(heading[1]), text);
      if (heading[1] === "1" && this.firstH1 === undefined && text !== "") this.firstH1 = text;
      return;
    }
    switch (tag) {
      case "br":
        this.inline += "\n";
        return;
      case "img": {
        const alt = element.getAttribute("alt")?.trim();
        if (alt) this.inline += ` ${alt} `;
        return;
      }
      case "pre":
        this.flush();
        this.out.add("code", fence(element));
        return;
      case "table":
        this.flush();
        this.out.add("table", tableText(element));
        return;
      case "ul":
      case "ol":
        this.flush();
        this.out.add("list", listText(element, 0).join("\n"));
        return;
    }
    if (BREAKING.has(tag)) {
      this.flush();
      this.children(element);
      this.flush();
    } else {
      this.children(element);
    }
  }
}

function fence(pre: HTMLElement): string {
  const code = pre.querySelector("code");
  const classes = `${pre.getAttribute("class") ?? ""} ${code?.getAttribute("class") ?? ""}`;
  const lang = /\b(?:language|lang)-([\w+#.-]+)/.exec(classes)?.[1] ?? "";
  return `\`\`\`${lang}\n${pre.text.replace(/\r\n?/g, "\n")}\n\`\`\``;
}

function tableText(table: HTMLElement): string {
  const rows: string[] = [];
  for (const row of table.querySelectorAll("tr")) {
    // Rows of a nested table are read as cell text of the outer one.
    if (row.closest("table") !== table) continue;
    const cells = row.childNodes.filter(
      (c): c is HTMLElement =>
        c.nodeType === NodeType.ELEMENT_NODE && /^t[hd]$/i.test((c as HTMLElement).rawTagName),
    );
    const line = cells.map((cell) => normalizeInline(cell.text)).join(" | ");
    if (line.replace(/[ |]/g, "") !== "") rows.push(line);
  }
  return rows.join("\n");
}

/** A list one item a line, nested lists indented under their item. */
function listText(list: HTMLElement, depth: number): string[] {
  const lines: string[] = [];
  const ordered = list.rawTagName.toLowerCase() === "ol";
  let number = Number(list.getAttribute("start") ?? 1) || 1;
  for (const item of list.childNodes) {
    if (item.nodeType !== NodeType.ELEMENT_NODE || (item as HTMLElement).rawTagName.toLowerCase() !== "li")
      continue;
    const nested: HTMLElement[] = [];
    let text = "";
    for (const child of item.childNodes) {
      const tag =
        child.nodeType === NodeType.ELEMENT_NODE ? (child as HTMLElement).rawTagName.toLowerCase() : "";
      if (tag === "ul" || tag === "ol") nested.push(child as HTMLElement);
      else if (BREAKING.has(tag)) text += ` ${child.text} `;
      else if (!SKIPPED.has(tag)) text += child.text;
    }
    lines.push(`${"  ".repeat(depth)}${ordered ? `${number++}.` : "-"} ${normalizeInline(text)}`);
    for (const sub of nested) lines.push(...listText(sub, depth + 1));
  }
  return lines;
}
