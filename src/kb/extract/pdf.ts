// PDF -> one section a page, from the text layer, with Mozilla's pdf.js (the legacy build, which runs on
// Node 20). A PDF names no headings, so heading paths are []; the page is kept for citations. Lines are
// rebuilt from the text items and joined into paragraphs where the gap between lines is a normal line's.
import { createRequire } from "node:module";
import path from "node:path";
import { ExtractError, type Section } from "./types.js";

export interface PdfDocument {
  sections: Section[];
  pages: number;
  title?: string;
}

/** The part of a pdf.js text item read here. */
interface TextItem {
  str: string;
  transform: number[];
  height: number;
  hasEOL: boolean;
}

interface Line {
  text: string;
  /** baseline, upwards from the page's bottom */
  y: number;
  size: number;
}

let assets: { cMapUrl: string; standardFontDataUrl: string } | undefined;

/** pdf.js's own CMaps (for CJK fonts that are not embedded) and standard font data, read from its package. */
function pdfjsAssets(): { cMapUrl: string; standardFontDataUrl: string } {
  if (!assets) {
    const root = path.dirname(createRequire(import.meta.url).resolve("pdfjs-dist/package.json"));
    assets = {
      cMapUrl: `${path.join(root, "cmaps")}${path.sep}`,
      standardFontDataUrl: `${path.join(root, "standard_fonts")}${path.sep}`,
    };
  }
  return assets;
}

export async function extractPdf(bytes: Uint8Array): Promise<PdfDocument> {
  const pdfjs = await import("pdfjs-dist/legacy/build/pdf.mjs");
  const task = pdfjs.getDocument({
    // pdf.js transfers (detaches) the buffer it is given: give it a copy, the caller's bytes stay theirs.
    data: bytes.slice(),
    ...pdfjsAssets(),
    cMapPacked: true,
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    verbosity: pdfjs.VerbosityLevel.ERRORS,
  });
  try {
    let pdf: Awaited<typeof task.promise>;
    try {
      pdf = await task.promise;
    } catch (error) {
      throw openError(error);
    }
    const sections: Section[] = [];
    for (let number = 1; number <= pdf.numPages; number++) {
      let items: TextItem[];
      try {
        const page = await pdf.getPage(number);
        const content = await page.getTextContent();
        items = content.items.filter((item) => "str" in item) as TextItem[];
        page.cleanup();
      } catch (error) {
        throw new ExtractError(
          "corrupt_file",
          `The PDF is damaged: page ${number} could not be read (${messageOf(error)}).`,
        );
      }
      const paragraphs = paragraphsOf(linesOf(items));
      if (paragraphs.length > 0) {
        sections.push({
          headingPath: [],
          page: number,
          blocks: paragraphs.map((text) => ({ kind: "text", text })),
        });
      }
    }
    if (sections.length === 0) {
      throw new ExtractError(
        "no_text_layer",
        "The PDF has no text layer: its pages are images (a scan?). Text recognition (OCR) is not supported; run the PDF through an OCR tool first and upload the result.",
      );
    }
    const info = (await pdf.getMetadata().catch(() => undefined))?.info as { Title?: unknown } | undefined;
    const title = typeof info?.Title === "string" ? info.Title.replace(/\s+/g, " ").trim() : "";
    return { sections, pages: pdf.numPages, ...(title ? { title } : {}) };
  } finally {
    await task.destroy();
  }
}

function openError(error: unknown): ExtractError {
  const name = (error as { name?: string } | undefined)?.name;
  if (name === "PasswordException") {
    return new ExtractError(
      "encrypted_file",
      "The PDF is protected by a password. Remove the password (print or save an unprotected copy) and upload that.",
    );
  }
  return new ExtractError(
    "corrupt_file",
    `The file is not a readable PDF (${messageOf(error)}); it may be damaged or truncated.`,
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Text items -> lines: an item ends its line when pdf.js says so or when the next one sits on another baseline. */
function linesOf(items: readonly TextItem[]): Line[] {
  const lines: Line[] = [];
  let current: Line | undefined;
  for (const item of items) {
    const y = item.transform[5];
    const size = Math.abs(item.transform[3]) || item.height;
    if (current && item.str !== "" && Math.abs(y - current.y) > Math.max(current.size, size) * 0.5) {
      lines.push(current);
      current = undefined;
    }
    if (item.str !== "") {
      if (!current) current = { text: "", y, size };
      current.text += item.str;
      current.size = Math.max(current.size, size);
    }
    if (item.hasEOL && current) {
      lines.push(current);
      current = undefined;
    }
  }
  if (current) lines.push(current);
  return lines.filter((line) => line.text.trim() !== "");
}

const CJK = /[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f]/;

/**
 * Lines -> paragraphs: a new one starts after a gap of more than 1.6 lines, on a change of font size (a
 * heading), or when the next line is not below the last (a new column). Lines of a paragraph join with a
 * space, with none between CJK characters, and a word hyphenated at the line end is joined again.
 */
function paragraphsOf(lines: readonly Line[]): string[] {
  const paragraphs: string[] = [];
  let text = "";
  let last: Line | undefined;
  for (const line of lines) {
    const body = line.text.replace(/\s+/g, " ").trim();
    if (last) {
      const gap = last.y - line.y;
      const sizeChange = Math.abs(line.size - last.size) > 0.2 * Math.max(line.size, last.size);
      if (gap <= 0 || gap > 1.6 * Math.max(line.size, last.size) || sizeChange) {
        paragraphs.push(text);
        text = "";
      }
    }
    if (text === "") text = body;
    else if (/[a-z]-$/.test(text) && /^[a-z]/.test(body)) text = text.slice(0, -1) + body;
    else if (CJK.test(text[text.length - 1]) || CJK.test(body[0])) text += body;
    else text += ` ${body}`;
    last = line;
  }
  if (text !== "") paragraphs.push(text);
  return paragraphs;
}
