// What extraction produces and how it fails: the contract between the format adapters, the chunker and the
// ingest worker. Imports nothing, so a worker thread can load it alone.

export type BlockKind = "text" | "code" | "table" | "list";

/**
 * One paragraph-level unit of a document. `text` of a `code` block is fenced Markdown (```lang ... ```), of a
 * `table` block one row a line (cells joined by " | ", the header row first), of a `list` block one item a line.
 */
export interface Block {
  kind: BlockKind;
  text: string;
}

/** A run of blocks under one heading path, e.g. ["安装", "使用 npm"]; [] before the first heading. */
export interface Section {
  headingPath: string[];
  blocks: Block[];
  /** 1-based PDF page where it starts */
  page?: number;
}

export type DocumentFormat = "text" | "markdown" | "html" | "pdf" | "docx" | "csv" | "json";

export interface ExtractedDocument {
  format: DocumentFormat;
  sections: Section[];
  /** e.g. "utf-8", "gb18030" for text formats */
  encoding?: string;
  /** PDFs */
  pages?: number;
  /** the document title when it names one (front matter title, <title>, first h1, DOCX title) */
  title?: string;
}

export type ExtractErrorCode =
  | "empty_file"
  | "unsupported_file_type"
  | "binary_content"
  | "no_text_layer"
  | "encrypted_file"
  | "corrupt_file"
  | "too_large";

/** Why a file gave no text. `message` is written for the person who uploaded it (it becomes the file's last_error). */
export class ExtractError extends Error {
  constructor(
    readonly code: ExtractErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ExtractError";
  }
}

export interface ExtractOptions {
  /** most bytes an archive (DOCX) may expand to; default 200 MiB */
  maxExpandedBytes?: number;
}

/** Each file extension the knowledge base reads, and its format (no parser imported: the CLI reads it too). */
export const FORMATS: Readonly<Record<string, DocumentFormat>> = {
  ".txt": "text",
  ".md": "markdown",
  ".markdown": "markdown",
  ".html": "html",
  ".htm": "html",
  ".pdf": "pdf",
  ".docx": "docx",
  ".csv": "csv",
  ".json": "json",
};

export const SUPPORTED_EXTENSIONS: readonly string[] = Object.keys(FORMATS);
