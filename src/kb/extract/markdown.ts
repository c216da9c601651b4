// Markdown -> sections, with marked's lexer (CommonMark + GFM tables). Headings (ATX and setext) make the
// heading path; fenced code stays fenced; tables become one row a line; lists one item a line; inline markup
// is reduced to its text (links to their text, images to their alt text, inline code keeps its backticks).
// VitePress additions seen in real docs: front matter (its title kept), `::: tip Title` containers (the
// marker lines dropped, a custom title kept as a line), `{#anchor}` heading ids, and <script>/<style> blocks
// (page code, not content).
import { Lexer, type Token, type Tokens } from "marked";
import { SectionBuilder } from "./sections.js";
import type { Section } from "./types.js";

export interface MarkdownDocument {
  sections: Section[];
  title?: string;
}

export function extractMarkdown(source: string): MarkdownDocument {
  const { body, title: frontTitle } = splitFrontMatter(source);
  const builder = new SectionBuilder();
  let firstH1: string | undefined;
  const walker = new Walker(builder, (depth, text) => {
    if (depth === 1 && firstH1 === undefined) firstH1 = text;
  });
  walker.blocks(new Lexer({ gfm: true }).lex(dropContainerMarkers(body)));
  const title = frontTitle || firstH1;
  return title ? { sections: builder.sections, title } : { sections: builder.sections };
}

/** Strips YAML front matter (--- ... --- at the very start), returning its `title:` if it has one. */
function splitFrontMatter(source: string): { body: string; title?: string } {
  const match = /^---[ \t]*\n([\s\S]*?)\n---[ \t]*(?:\n|$)/.exec(source);
  if (!match) return { body: source };
  const line = /^title:[ \t]*(.+?)[ \t]*$/m.exec(match[1]);
  const title = line?.[1].replace(/^(["'])(.*)\1$/, "$2").trim();
  const body = source.slice(match[0].length);
  return title ? { body, title } : { body };
}

/** Replaces VitePress container markers (`::: tip Title`, `:::`) outside code fences with their title, if any. */
function dropContainerMarkers(source: string): string {
  if (!source.includes(":::")) return source;
  const lines = source.split("\n");
  let fence = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const opener = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence !== "") {
      if (
        opener &&
        opener[1][0] === fence[0] &&
        opener[1].length >= fence.length &&
        line.trim() === opener[1]
      )
        fence = "";
      continue;
    }
    if (opener) {
      fence = opener[1];
      continue;
    }
    const marker = /^\s*:::+\s*(?:[\w-]+)?\s*(.*)$/.exec(line);
    if (marker) lines[i] = marker[1] === "" ? "" : `\n${marker[1]}\n`;
  }
  return lines.join("\n");
}

class Walker {
  constructor(
    private readonly out: SectionBuilder,
    private readonly onHeading: (depth: number, text: string) => void,
  ) {}

  blocks(tokens: readonly Token[]): void {
    for (const token of tokens) this.block(token);
  }

  private block(token: Token): void {
    switch (token.type) {
      case "heading": {
        const text = inline((token as Tokens.Heading).tokens, false).replace(/\s*\{#[^}]*\}\s*$/, "");
        this.out.heading(token.depth, text);
        this.onHeading(token.depth, text.trim());
        return;
      }
      case "paragraph":
        this.out.add("text", inline((token as Tokens.Paragraph).tokens));
        return;
      case "text":
        this.out.add("text", token.tokens ? inline(token.tokens) : decodeEntities(token.text));
        return;
      case "code":
        this.out.add("code", fenced(token as Tokens.Code));
        return;
      case "table":
        this.out.add("table", tableText(token as Tokens.Table));
        return;
      case "list":
        this.list(token as Tokens.List);
        return;
      case "blockquote":
        this.blocks((token as Tokens.Blockquote).tokens);
        return;
      case "html":
        this.out.add("text", htmlText(token.text));
        return;
      default:
        // space, hr, def (link definitions), and anything an extension adds: no text of its own.
        return;
    }
  }

  /** A list as one `list` block, items one a line (nested ones indented); code, a table or a quote inside an item interrupts it. */
  private list(list: Tokens.List): void {
    const lines: string[] = [];
    const flush = () => {
      if (lines.length > 0) this.out.add("list", lines.join("\n"));
      lines.length = 0;
    };
    const walk = (items: Tokens.List, depth: number) => {
      const indent = "  ".repeat(depth);
      let number = typeof items.start === "number" ? items.start : 1;
      for (const item of items.items) {
        const bullet = items.ordered ? `${number++}. ` : "- ";
        const task = item.task ? (item.checked ? "[x] " : "[ ] ") : "";
        let first = true;
        for (const child of item.tokens) {
          if (child.type === "list") {
            walk(child as Tokens.List, depth + 1);
          } else if (child.type === "text" || child.type === "paragraph") {
            const text = child.tokens ? inline(child.tokens) : decodeEntities(child.text);
            lines.push(first ? indent + bullet + task + text : `${indent}  ${text}`);
            first = false;
          } else if (child.type !== "space" && child.type !== "checkbox") {
            if (first) lines.push(indent + bullet + task);
            first = false;
            flush();
            this.block(child);
          }
        }
        if (first) lines.push(indent + bullet + task);
      }
    };
    walk(list, 0);
    flush();
  }
}

function fenced(code: Tokens.Code): string {
  // "vue{1}", "vue [App.vue]", "js:line-numbers" -> the language alone.
  const lang = /^[\w+#.-]*/.exec(code.lang ?? "")?.[0] ?? "";
  return `\`\`\`${lang}\n${code.text}\n\`\`\``;
}

function tableText(table: Tokens.Table): string {
  const row = (cells: Tokens.TableCell[]) =>
    cells.map((cell) => inline(cell.tokens).replace(/\n/g, " ")).join(" | ");
  return [row(table.header), ...table.rows.map(row)].join("\n");
}

/** Inline tokens as plain text; `code` keeps inline code's backticks (it does in prose, not in headings). */
function inline(tokens: readonly Token[] | undefined, code = true): string {
  if (!tokens) return "";
  let out = "";
  for (const token of tokens) {
    switch (token.type) {
      case "text":
        out += (token as Tokens.Text).tokens
          ? inline((token as Tokens.Text).tokens, code)
          : decodeEntities(token.text);
        break;
      case "escape":
        out += token.text;
        break;
      case "codespan":
        out += code ? `\`${token.text}\`` : token.text;
        break;
      case "br":
        out += "\n";
        break;
      case "image":
        out += token.text;
        break;
      case "html":
        out += /^<br\s*\/?>$/i.test(token.text) ? "\n" : "";
        break;
      default:
        // strong, em, del, link and extensions: their text.
        out +=
          "tokens" in token && token.tokens
            ? inline(token.tokens as Token[], code)
            : ((token as { text?: string }).text ?? "");
    }
  }
  return out;
}

/** Text of an HTML block: <script>, <style> and comments dropped, tags stripped, entities decoded. */
function htmlText(html: string): string {
  const text = html
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, "")
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/?[A-Za-z][^>]*>/g, " ");
  return decodeEntities(text);
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  copy: "©",
};

function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] !== "#") return ENTITIES[name.toLowerCase()] ?? whole;
    const code =
      name[1] === "x" || name[1] === "X" ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}
