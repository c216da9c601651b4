// Sections -> chunks within a token budget. A chunk never mixes two heading paths (nor two PDF pages): a
// section is the unit a citation names, and a chunk that straddled two would be cited under one of them
// only. Within a section, whole blocks are packed up to the budget; a block is split only when it is larger
// than a chunk: prose at sentences, code and tables at lines (the fence or header row repeated), and a single
// line or sentence over the budget by characters.
//
// The tokenizer is the model's, which is fast but not free, so every piece of text is counted once, as a
// sentence, a whole code block or table, or a line of an oversized one, and a chunk's tokens are the sum of
// its pieces (with a blank line between blocks); a chunk's text is never counted as it grows. Pieces are cut
// where a BPE pre-tokenizer splits anyway (a sentence keeps its line breaks, the next one starts with its
// space), so the sum is the joined text's count or a little more: with the Qwen3 tokenizer, over the shared
// corpus (all 5,685 files at budgets of 48 and 200 tokens, 38,854 chunks), no chunk's text counted more than
// its sum; on three Vue pages also measured for the gap, it counted 0.4-2.1 tokens less on average.
import { normalizeBlockText } from "./extract/sections.js";
import type { Block, Section } from "./extract/types.js";
import { splitSentences } from "./sentences.js";

export interface ChunkDraft {
  /** the body: the heading path is not repeated in it */
  text: string;
  headingPath: string[];
  /** by `countTokens`, at most `maxTokens`: the sum of its sentences', blocks' or lines' counts */
  tokens: number;
  /** 1-based PDF page of its section */
  page?: number;
}

export interface ChunkOptions {
  /** Most tokens in a chunk (by `countTokens`); at least 1. Only a single character counted over it alone makes a larger chunk. */
  maxTokens: number;
  /** About how many tokens of the previous chunk's last sentences start the next chunk of the same section; 0 for none, less than `maxTokens`. */
  overlapTokens: number;
  /** The embedding model's tokenizer, or a stand-in: called once per sentence, block or line. */
  countTokens: (text: string) => number;
}

interface Piece {
  text: string;
  tokens: number;
  /** Which block of its section it comes from: pieces of one block join as they are, of two with a blank line. */
  block: number;
  /** A sentence of prose, which may start the next chunk again as overlap. */
  sentence: boolean;
  /** Tokens of the text without its leading spaces, counted when the piece first starts a chunk (which trims them). */
  trimmed?: number;
}

export function chunkSections(sections: readonly Section[], options: ChunkOptions): ChunkDraft[] {
  const { maxTokens, overlapTokens } = options;
  if (!(maxTokens >= 1)) throw new RangeError(`maxTokens must be at least 1, not ${maxTokens}`);
  if (!(overlapTokens >= 0 && overlapTokens < maxTokens))
    throw new RangeError(
      `overlapTokens must be at least 0 and below maxTokens (${maxTokens}), not ${overlapTokens}`,
    );
  const packer = new Packer(options);
  for (let i = 0; i < sections.length; ) {
    // Consecutive sections under the same path and page pack as one.
    const { headingPath, page } = sections[i];
    const blocks: Block[] = [];
    for (; i < sections.length && samePlace(sections[i], headingPath, page); i++)
      blocks.push(...sections[i].blocks);
    packer.section(headingPath, page, blocks);
  }
  return packer.chunks;
}

function samePlace(section: Section, headingPath: readonly string[], page: number | undefined): boolean {
  return (
    section.page === page &&
    section.headingPath.length === headingPath.length &&
    section.headingPath.every((h, i) => h === headingPath[i])
  );
}

class Packer {
  readonly chunks: ChunkDraft[] = [];
  private readonly max: number;
  private readonly overlap: number;
  private readonly count: (text: string) => number;
  /** What a blank line between two blocks costs. */
  private readonly separator: number;
  private headingPath: string[] = [];
  private pageNumber: number | undefined;
  private current: Piece[] = [];
  private tokens = 0;
  /** How many pieces at the start of `current` are overlap, repeated from the previous chunk. */
  private repeated = 0;
  private blockId = 0;

  constructor(options: ChunkOptions) {
    this.max = options.maxTokens;
    this.overlap = options.overlapTokens;
    this.count = options.countTokens;
    this.separator = this.count("\n\n");
  }

  section(headingPath: string[], page: number | undefined, blocks: readonly Block[]): void {
    this.headingPath = [...headingPath];
    this.pageNumber = page;
    for (const block of blocks) {
      const text = normalizeBlockText(block.kind, block.text);
      if (text === "") continue;
      if (block.kind === "code" || block.kind === "table") {
        for (const part of this.atomicParts(block.kind, text))
          this.place([{ ...part, block: this.blockId++, sentence: false }]);
      } else {
        const id = this.blockId++;
        const pieces: Piece[] = [];
        for (const sentence of splitSentences(text)) {
          for (const part of this.fit(sentence, this.max))
            pieces.push({ ...part, block: id, sentence: true });
        }
        this.place(pieces);
      }
    }
    this.flush(false);
  }

  /** Places one block's pieces: whole in this chunk, else whole in the next, else sentence by sentence. */
  private place(pieces: Piece[]): void {
    if (pieces.length === 0) return;
    if (this.tokens + this.costAfter(pieces, this.last()) <= this.max) {
      for (const piece of pieces) this.push(piece);
      return;
    }
    if (this.costAfter(pieces, undefined) <= this.max) {
      this.flush(true);
      this.makeRoom(pieces);
      for (const piece of pieces) this.push(piece);
      return;
    }
    for (const piece of pieces) {
      if (this.tokens + this.cost(piece, this.last()) <= this.max) {
        this.push(piece);
        continue;
      }
      this.flush(true);
      this.makeRoom([piece]);
      if (this.current.length === 0 && this.cost(piece, undefined) > this.max) {
        // Rare: a piece that fit with its leading space does not without it. Cut the trimmed text again.
        for (const part of this.fit(piece.text.trimStart(), this.max))
          this.push({ ...part, block: piece.block, sentence: true });
      } else {
        this.push(piece);
      }
    }
  }

  private last(): Piece | undefined {
    return this.current[this.current.length - 1];
  }

  /** What `piece` adds after `last`: a blank line between blocks; when it starts the chunk, its trimmed text. */
  private cost(piece: Piece, last: Piece | undefined): number {
    if (last) return piece.tokens + (last.block !== piece.block ? this.separator : 0);
    if (piece.trimmed === undefined) {
      piece.trimmed =
        piece.sentence && /^\s/.test(piece.text) ? this.count(piece.text.trimStart()) : piece.tokens;
    }
    return piece.trimmed;
  }

  private costAfter(pieces: readonly Piece[], last: Piece | undefined): number {
    let total = 0;
    let before = last;
    for (const piece of pieces) {
      total += this.cost(piece, before);
      before = piece;
    }
    return total;
  }

  private push(piece: Piece): void {
    this.tokens += this.cost(piece, this.last());
    this.current.push(piece);
  }

  /** Drops overlap from the front of a new chunk until `pieces` fit after it. */
  private makeRoom(pieces: readonly Piece[]): void {
    while (this.current.length > 0 && this.tokens + this.costAfter(pieces, this.last()) > this.max) {
      this.current.shift();
      this.repeated--;
      this.tokens = this.costAfter(this.current, undefined);
    }
  }

  /** Emits the current chunk (unless it is only overlap) and starts the next, with overlap when asked. */
  private flush(withOverlap: boolean): void {
    const pieces = this.current;
    if (pieces.length > this.repeated) {
      const draft: ChunkDraft = {
        text: join(pieces),
        headingPath: [...this.headingPath],
        tokens: this.tokens,
      };
      if (this.pageNumber !== undefined) draft.page = this.pageNumber;
      this.chunks.push(draft);
    }
    let start = pieces.length;
    let size = 0;
    if (withOverlap) {
      // The last whole sentences that fit in the overlap, never the whole chunk again.
      while (start > 1 && pieces[start - 1].sentence && size + pieces[start - 1].tokens <= this.overlap) {
        size += pieces[start - 1].tokens;
        start--;
      }
    }
    this.current = pieces.slice(start);
    this.repeated = this.current.length;
    this.tokens = this.costAfter(this.current, undefined);
  }

  /** A code block or table as parts that each fit a chunk: split at lines, repeating the fence or header row. */
  private atomicParts(kind: "code" | "table", text: string): { text: string; tokens: number }[] {
    const tokens = this.count(text);
    if (tokens <= this.max) return [{ text, tokens }];
    const lines = text.split("\n");
    let head = "";
    let tail = "";
    if (
      kind === "code" &&
      lines.length > 2 &&
      lines[0].startsWith("```") &&
      lines[lines.length - 1].startsWith("```")
    ) {
      head = `${lines.shift()}\n`;
      tail = `${lines.pop()}`;
    } else if (kind === "table" && lines.length > 1) {
      head = `${lines.shift()}\n`;
    }
    let frame = head === "" ? 0 : this.count(head) + (tail === "" ? 0 : this.count(tail));
    // A header or fence that takes over half the budget is not worth repeating.
    if (frame > this.max / 2) {
      if (kind === "table") lines.unshift(head.slice(0, -1));
      head = "";
      tail = "";
      frame = 0;
    }
    const budget = this.max - frame;
    const parts: { text: string; tokens: number }[] = [];
    let body = "";
    let size = 0;
    const emit = () => {
      if (body === "") return;
      parts.push({
        text: head + (tail === "" ? body.replace(/\n$/, "") : body + tail),
        tokens: frame + size,
      });
      body = "";
      size = 0;
    };
    for (const line of lines) {
      for (const piece of this.fit(`${line}\n`, budget)) {
        if (size + piece.tokens > budget) emit();
        body += piece.text;
        size += piece.tokens;
      }
    }
    emit();
    return parts;
  }

  /** `text` in pieces of at most `budget` tokens: itself when it fits, else cut by characters. */
  private fit(text: string, budget: number): { text: string; tokens: number }[] {
    const tokens = this.count(text);
    if (tokens <= budget) return [{ text, tokens }];
    // Cut a little under the budget by the text's characters per token; a cut still over it is cut shorter.
    // Only the cuts are counted, never the shrinking rest, so a long line costs about one count of itself.
    const perToken = text.length / tokens;
    const parts: { text: string; tokens: number }[] = [];
    for (let start = 0; start < text.length; ) {
      const rest = text.slice(start);
      let length = Math.max(1, Math.floor(budget * 0.9 * perToken));
      for (;;) {
        const end = breakBefore(rest, length);
        const cut = rest.slice(0, end);
        const cutTokens = this.count(cut);
        // One character (code point) over the budget is kept whole: it cannot be cut.
        if (cutTokens <= budget || end <= 1 || (end === 2 && isPair(rest))) {
          parts.push({ text: cut, tokens: cutTokens });
          start += end;
          break;
        }
        length = Math.max(1, Math.min(end - 1, Math.floor((end * budget * 0.9) / cutTokens)));
      }
    }
    return parts;
  }
}

/**
 * Where to cut `text` at most `length` characters in: before a space or after a comma in the last third if
 * there is one, never inside a surrogate pair. Before a space, as a BPE pre-tokenizer joins a space to the
 * word after it (" word", " 路径"): the cut then leaves every token whole. A chunk that starts with the cut
 * drops the space, and is counted without it (Packer.cost).
 */
function breakBefore(text: string, length: number): number {
  if (length >= text.length) return text.length;
  for (let i = length; i > Math.floor((length * 2) / 3); i--) {
    const before = text[i - 1];
    if (text[i] === " " || text[i] === "\t" || before === "," || before === "，" || before === "、") return i;
  }
  if (!isLowSurrogate(text.charCodeAt(length))) return length;
  return length > 1 ? length - 1 : length + 1;
}

const isLowSurrogate = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;
const isPair = (text: string): boolean => isLowSurrogate(text.charCodeAt(1));

/** A chunk's text: blocks a blank line apart, prose trimmed, a code part's first indentation kept. */
function join(pieces: readonly Piece[]): string {
  let text = "";
  for (let i = 0; i < pieces.length; i++) {
    if (i > 0 && pieces[i - 1].block !== pieces[i].block) text = `${text.trimEnd()}\n\n`;
    text += pieces[i].text;
  }
  return (pieces[0].sentence ? text.trimStart() : text.replace(/^(?:[ \t]*\n)+/, "")).trimEnd();
}
