// Sentence splitting for Chinese and English alike, by punctuation and newlines, with no dictionary: cheap
// enough to run over every paragraph of a knowledge base (a regular expression finds the candidates).

/** Where a sentence may end: a newline, Chinese or full-width punctuation, or . ! ? ; */
const CANDIDATE = /[\n。！？；…｡.!?;]/g;
/** Chinese and full-width punctuation (ends a sentence wherever it stands), then any more of it or of . ! ? ; */
const CJK_RUN = /[。！？；…｡][。！？；…｡.!?;]*/y;
const ASCII_RUN = /[.!?;]+/y;
/** Closing quotes and brackets that stay with the sentence they close. */
const CLOSERS = /["')\]}”’」』）》】〕〉]*/y;
/** Line breaks (and spaces before them) after a sentence: they end it; spaces before the next sentence start that one. */
const BREAKS = /(?:[ \t\f\u00a0\u3000]*\n)*/y;
/** Words after which a period does not end a sentence. */
const ABBREVIATIONS = new Set([
  "e.g",
  "i.e",
  "etc",
  "vs",
  "mr",
  "mrs",
  "ms",
  "dr",
  "prof",
  "fig",
  "no",
  "cf",
  "approx",
]);

const isSpace = (c: string | undefined): boolean =>
  c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\u3000" || c === "\u00a0";

/** The end of the match of a sticky expression at `at`. */
function skip(pattern: RegExp, text: string, at: number): number {
  pattern.lastIndex = at;
  pattern.test(text);
  return pattern.lastIndex;
}

/**
 * Splits text into sentences: after 。！？；… (with any closing quotes), after . ! ? ; followed by whitespace
 * or the end, and after every newline. The pieces joined give the text back exactly. A piece keeps the line
 * breaks that follow it, while spaces start the next piece ("Hi." + " There"), which is where a BPE
 * tokenizer's pre-tokenizer puts them too: counted one by one, the pieces add up to the whole's count.
 */
export function splitSentences(text: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  // Module-level and sticky state: safe, as nothing here awaits or calls back out.
  const candidates = CANDIDATE;
  candidates.lastIndex = 0;
  for (let match = candidates.exec(text); match !== null; match = candidates.exec(text)) {
    const at = match.index;
    const c = match[0];
    let end: number;
    if (c === "\n") {
      end = at + 1;
    } else if (c === "." || c === "!" || c === "?" || c === ";") {
      const run = skip(ASCII_RUN, text, at);
      const closed = skip(CLOSERS, text, run);
      candidates.lastIndex = closed;
      if (closed < text.length && !isSpace(text[closed])) continue;
      if (c === "." && run - at === 1 && notAnEnd(text, start, at, closed)) continue;
      end = closed;
    } else {
      end = skip(CLOSERS, text, skip(CJK_RUN, text, at));
    }
    end = skip(BREAKS, text, end);
    pieces.push(text.slice(start, end));
    start = end;
    candidates.lastIndex = end;
  }
  if (start < text.length) pieces.push(text.slice(start));
  return pieces;
}

/** A single period at `dot` that does not end a sentence: "e.g. x", "Mr. X", "1. item", "U.S. law". */
function notAnEnd(text: string, start: number, dot: number, after: number): boolean {
  let k = after;
  while (k < text.length && (text[k] === " " || text[k] === "\t")) k++;
  const next = text.charCodeAt(k);
  if (next >= 0x61 && next <= 0x7a) return true;
  let w = dot;
  while (w > start && !isSpace(text[w - 1])) w--;
  const word = text.slice(w, dot).toLowerCase();
  if (/^\d+$/.test(word) && text.slice(start, w).trim() === "") return true;
  return word.length === 1 || ABBREVIATIONS.has(word) || /^([a-z]\.)+[a-z]$/.test(word);
}
