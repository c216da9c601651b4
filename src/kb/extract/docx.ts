// DOCX -> HTML with mammoth (Word's heading styles become h1-h6, tables and lists kept), then the HTML
// adapter. The archive is checked by zip-guard first, as mammoth would inflate the parts it reads however large.
import { extractHtml } from "./html.js";
import { ExtractError, type Section } from "./types.js";
import { readZipGuarded } from "./zip-guard.js";

export interface DocxDocument {
  sections: Section[];
  title?: string;
}

/** An OLE compound file: a Word 97-2003 .doc, or a password-protected (encrypted) Office file. */
const OLE_MAGIC = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

export async function extractDocx(bytes: Uint8Array, maxExpandedBytes: number): Promise<DocxDocument> {
  if (OLE_MAGIC.every((b, i) => bytes[i] === b)) {
    // An encrypted OOXML file is an OLE container with a stream named "EncryptedPackage" (UTF-16LE).
    if (
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(
        Buffer.from("EncryptedPackage", "utf16le"),
      )
    ) {
      throw new ExtractError(
        "encrypted_file",
        "The document is protected by a password. Save a copy without the password and upload that.",
      );
    }
    throw new ExtractError(
      "unsupported_file_type",
      "This is an old Word 97-2003 document (.doc) named .docx. Save it as .docx (Word or LibreOffice) and upload that.",
    );
  }
  // mammoth reads the XML parts, never the images (our converter does not ask for them): inflate and count those.
  const zip = await readZipGuarded(bytes, {
    maxExpandedBytes,
    inflate: (name) => /\.(xml|rels)$/i.test(name),
  });
  const main = mainDocumentPart(zip.files.get("_rels/.rels"));
  if (!zip.names.has(main)) {
    throw new ExtractError("corrupt_file", `The file is not a Word document: the archive has no ${main}.`);
  }
  const { default: mammoth } = await import("mammoth");
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
      {
        styleMap: ["p[style-name='Title'] => p.docx-title:fresh"],
        convertImage: mammoth.images.imgElement(async () => ({ src: "" })),
      },
    );
    // A footnote's link back to its reference reads "↑": not text.
    html = result.value.replace(/<a href="#(?:footnote|endnote)-ref-[^"]*">↑<\/a>/g, "");
  } catch (error) {
    throw new ExtractError("corrupt_file", `The Word document is damaged (${(error as Error).message}).`);
  }
  const doc = extractHtml(html);
  const title = coreTitle(zip.files.get("docProps/core.xml")) || styledTitle(html) || doc.title;
  return title ? { sections: doc.sections, title } : { sections: doc.sections };
}

/** The main part named by the package relationships (word/document.xml, unless a tool chose otherwise). */
function mainDocumentPart(rels: Buffer | undefined): string {
  const xml = rels?.toString("utf8") ?? "";
  for (const match of xml.matchAll(/<Relationship\b[^>]*>/g)) {
    if (!/Type="[^"]*\/officeDocument"/.test(match[0])) continue;
    const target = /Target="([^"]+)"/.exec(match[0])?.[1];
    if (target) return target.replace(/^\//, "");
  }
  return "word/document.xml";
}

function coreTitle(core: Buffer | undefined): string {
  const raw = /<dc:title>([\s\S]*?)<\/dc:title>/.exec(core?.toString("utf8") ?? "")?.[1] ?? "";
  return unescapeXml(raw).replace(/\s+/g, " ").trim();
}

/** The text of the first paragraph in Word's "Title" style. */
function styledTitle(html: string): string {
  const raw = /<p class="docx-title">([\s\S]*?)<\/p>/.exec(html)?.[1] ?? "";
  return unescapeXml(raw.replace(/<[^>]+>/g, ""))
    .replace(/\s+/g, " ")
    .trim();
}

function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;|&#39;/g, "'")
    .replace(/&amp;/g, "&");
}
