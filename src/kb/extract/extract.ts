// File bytes -> sections, by the file's extension. Pure and self-contained (no server, no shared state), so
// the ingest worker can run it in a worker thread; the PDF and DOCX libraries load on first use only.
import { extractCsv } from "./csv.js";
import { decodeText } from "./decode.js";
import { extractDocx } from "./docx.js";
import { extractHtml } from "./html.js";
import { extractJson } from "./json.js";
import { extractMarkdown } from "./markdown.js";
import { extractPdf } from "./pdf.js";
import { SectionBuilder } from "./sections.js";
import {
  type DocumentFormat,
  ExtractError,
  type ExtractedDocument,
  type ExtractOptions,
  FORMATS,
  type Section,
  SUPPORTED_EXTENSIONS,
} from "./types.js";

export { SUPPORTED_EXTENSIONS };

/** Default of `ExtractOptions.maxExpandedBytes`: 200 MiB. */
export const DEFAULT_MAX_EXPANDED_BYTES = 200 * 1024 * 1024;

/**
 * Extracts a document's text as sections (heading path + blocks). The format is the extension's, in any
 * case. Throws ExtractError, whose message is meant for the user, for a file that gives no text.
 */
export async function extractDocument(
  bytes: Uint8Array,
  filename: string,
  options: ExtractOptions = {},
): Promise<ExtractedDocument> {
  const format = FORMATS[extensionOf(filename)];
  if (!format) {
    const ext = extensionOf(filename);
    throw new ExtractError(
      "unsupported_file_type",
      `${ext ? `Files of type ${ext} are` : "Files without an extension are"} not supported. Supported types: ${SUPPORTED_EXTENSIONS.join(", ")}.`,
    );
  }
  if (bytes.byteLength === 0) throw empty();
  const doc = await extractAs(format, bytes, options);
  if (!doc.sections.some((section) => section.blocks.length > 0)) {
    throw new ExtractError(
      "empty_file",
      "The file has no text to index: it holds only markup, page code, images or empty fields.",
    );
  }
  return doc;
}

async function extractAs(
  format: DocumentFormat,
  bytes: Uint8Array,
  options: ExtractOptions,
): Promise<ExtractedDocument> {
  switch (format) {
    case "pdf": {
      const { sections, pages, title } = await extractPdf(bytes);
      return { format, sections, pages, ...(title ? { title } : {}) };
    }
    case "docx": {
      const { sections, title } = await extractDocx(
        bytes,
        options.maxExpandedBytes ?? DEFAULT_MAX_EXPANDED_BYTES,
      );
      return { format, sections, ...(title ? { title } : {}) };
    }
  }
  const { text: raw, encoding } = decodeText(bytes);
  const text = raw.replace(/\r\n?/g, "\n");
  if (text.trim() === "") throw empty();
  switch (format) {
    case "markdown": {
      const { sections, title } = extractMarkdown(text);
      return { format, encoding, sections, ...(title ? { title } : {}) };
    }
    case "html": {
      const { sections, title } = extractHtml(text);
      return { format, encoding, sections, ...(title ? { title } : {}) };
    }
    case "csv":
      return { format, encoding, sections: extractCsv(text) };
    case "json":
      return { format, encoding, sections: extractJson(text) };
    default:
      return { format, encoding, sections: plainText(text) };
  }
}

/** Plain text: one block a paragraph (paragraphs end at blank lines); no headings. */
function plainText(text: string): Section[] {
  const builder = new SectionBuilder();
  for (const paragraph of text.split(/\n[ \t\u3000]*\n/)) builder.add("text", paragraph);
  return builder.sections;
}

function extensionOf(filename: string): string {
  const base = filename.slice(Math.max(filename.lastIndexOf("/"), filename.lastIndexOf("\\")) + 1);
  const dot = base.lastIndexOf(".");
  return dot >= 0 ? base.slice(dot).toLowerCase() : "";
}

function empty(): ExtractError {
  return new ExtractError(
    "empty_file",
    "The file is empty or holds only whitespace: there is no text to index.",
  );
}
