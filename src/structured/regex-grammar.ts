import { type CharRanges, charClass, JSON_UNSAFE, literal, subtractRanges } from "./gbnf.js";
import { MAX_PATTERN_DEPTH, MAX_PATTERN_LENGTH, MAX_REPEAT } from "./limits.js";

/**
 * Translates a JSON Schema `pattern` (an ECMAScript regex, unanchored unless it says ^...$) into a GBNF
 * expression for the JSON text between the quotes. The subset: literals, escapes, `.`, classes,
 * groups, alternation and quantifiers. Characters that JSON must escape are generated escaped when
 * written literally and left out of classes and `.` (the grammar may generate a subset of the
 * pattern's strings, never a string outside it). Anything else throws a PatternError.
 *
 * Bounded like the rest of the grammar (limits.ts): a repetition's lower bound above MAX_REPEAT throws
 * a PatternLimitError, an upper bound above it is lowered to it (a subset again).
 */
export class PatternError extends Error {}

/** A pattern within the subset but past a limit; the message is a whole sentence. */
export class PatternLimitError extends PatternError {}

const DIGIT: CharRanges = [[0x30, 0x39]];
const WORD: CharRanges = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
/** \s narrowed to the plain space: every other JS whitespace is a control JSON escapes, or exotic. */
const SPACE: CharRanges = [[0x20, 0x20]];
const LINE_TERMINATORS: CharRanges = [
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
];
const WHITESPACE: CharRanges = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];

/**
 * @param anyChar the rule for one character of the string, for unanchored ends.
 * @param name gives a rule name for a group's body: a repeated group is repeated by reference, so
 *   llama.cpp never copies the rules inside it (it refuses copies above 2000).
 */
export function patternToGbnf(pattern: string, anyChar: string, name: (body: string) => string): string {
  if (pattern.length > MAX_PATTERN_LENGTH)
    throw new PatternLimitError(`the pattern is longer than ${MAX_PATTERN_LENGTH} characters.`);
  let source = pattern;
  const anchoredStart = source.startsWith("^");
  if (anchoredStart) source = source.slice(1);
  const anchoredEnd = source.endsWith("$") && !source.endsWith("\\$");
  if (anchoredEnd) source = source.slice(0, -1);
  const parser = new Parser(source, name);
  const body = parser.parseAlternation();
  if (!parser.atEnd()) throw new PatternError(`unexpected '${source[parser.pos]}' at ${parser.pos}`);
  return [anchoredStart ? "" : `${anyChar}*`, `(${body})`, anchoredEnd ? "" : `${anyChar}*`]
    .filter(Boolean)
    .join(" ");
}

class Parser {
  pos = 0;
  private depth = 0;
  constructor(
    private readonly src: string,
    private readonly name: (body: string) => string,
  ) {}

  atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  parseAlternation(): string {
    const branches = [this.parseSequence()];
    while (this.src[this.pos] === "|") {
      this.pos++;
      branches.push(this.parseSequence());
    }
    return branches.map((b) => (b === "" ? '""' : b)).join(" | ");
  }

  private parseSequence(): string {
    const items: string[] = [];
    while (!this.atEnd() && this.src[this.pos] !== "|" && this.src[this.pos] !== ")") {
      const atom = this.parseAtom();
      items.push(this.parseQuantifier(atom));
    }
    return items.join(" ");
  }

  private parseAtom(): string {
    const char = this.src[this.pos++];
    if (char === "(") {
      if (this.src.startsWith("?:", this.pos)) this.pos += 2;
      else if (this.src[this.pos] === "?") throw new PatternError("lookarounds and named groups");
      if (++this.depth > MAX_PATTERN_DEPTH)
        throw new PatternLimitError(`the pattern nests groups more than ${MAX_PATTERN_DEPTH} deep.`);
      const inner = this.parseAlternation();
      this.depth--;
      if (this.src[this.pos++] !== ")") throw new PatternError("unclosed group");
      return `(${inner})`;
    }
    if (char === "[") return this.parseClass();
    if (char === ".") return charClass([...LINE_TERMINATORS, ...JSON_UNSAFE], true);
    if (char === "\\") return this.parseEscape(false).expression;
    if (char === "^" || char === "$") throw new PatternError(`anchor '${char}' inside the pattern`);
    if ("*+?{".includes(char)) throw new PatternError(`nothing to repeat before '${char}'`);
    return literalForJson(char + this.surrogateTail(char));
  }

  /** A code point outside the BMP arrives as two UTF-16 units. */
  private surrogateTail(char: string): string {
    const code = char.charCodeAt(0);
    return code >= 0xd800 && code <= 0xdbff && this.pos < this.src.length ? this.src[this.pos++] : "";
  }

  private parseQuantifier(atom: string): string {
    const char = this.src[this.pos];
    let suffix: string | undefined;
    if (char === "*" || char === "+" || char === "?") {
      this.pos++;
      suffix = char;
    } else if (char === "{") {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
      if (!match) throw new PatternError("malformed {m,n} quantifier");
      this.pos += match[0].length;
      const min = Number(match[1]);
      let max = match[2] === undefined ? min : match[3] === "" ? undefined : Number(match[3]);
      if (max !== undefined && max < min) throw new PatternError("{m,n} with n < m");
      if (min > MAX_REPEAT)
        throw new PatternLimitError(
          `the pattern repeats something at least ${match[1]} times; at most ${MAX_REPEAT} are supported.`,
        );
      if (max !== undefined && max > MAX_REPEAT) max = MAX_REPEAT;
      if (max === 0) return '""';
      suffix = max === undefined ? `{${min},}` : max === min ? `{${min}}` : `{${min},${max}}`;
    }
    if (suffix === undefined) return atom;
    if (this.src[this.pos] === "?") this.pos++; // lazy: same language
    return `${atom.startsWith("(") ? this.name(atom) : `(${atom})`}${suffix}`;
  }

  /** An escape; `inClass` allows only what a class can hold. */
  private parseEscape(inClass: boolean): { expression: string; ranges?: CharRanges; isSet?: boolean } {
    const char = this.src[this.pos++];
    if (char === undefined) throw new PatternError("trailing backslash");
    const set = (ranges: CharRanges) => ({ expression: safeClass(ranges), ranges, isSet: true });
    const unset = (ranges: CharRanges) => {
      if (inClass) throw new PatternError(`\\${char} inside a class`);
      return { expression: charClass([...ranges, ...JSON_UNSAFE], true) };
    };
    switch (char) {
      case "d":
        return set(DIGIT);
      case "w":
        return set(WORD);
      case "s":
        return set(SPACE);
      case "D":
        return unset(DIGIT);
      case "W":
        return unset(WORD);
      case "S":
        return unset(WHITESPACE);
      case "n":
        return single(0x0a);
      case "r":
        return single(0x0d);
      case "t":
        return single(0x09);
      case "f":
        return single(0x0c);
      case "v":
        return single(0x0b);
      case "x":
      case "u": {
        const digits = char === "x" ? 2 : 4;
        const hex = this.src.slice(this.pos, this.pos + digits);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== digits)
          throw new PatternError(`malformed \\${char}`);
        this.pos += digits;
        return single(Number.parseInt(hex, 16));
      }
      default:
        if (/[0-9bBkpPcq]/.test(char)) throw new PatternError(`\\${char}`);
        return single(char.codePointAt(0) ?? 0);
    }
  }

  private parseClass(): string {
    let negated = false;
    if (this.src[this.pos] === "^") {
      negated = true;
      this.pos++;
    }
    const ranges: CharRanges = [];
    let first = true;
    while (this.src[this.pos] !== "]" || first) {
      if (this.atEnd()) throw new PatternError("unclosed class");
      first = false;
      const lo = this.classAtom();
      if (lo.ranges) {
        ranges.push(...lo.ranges);
        continue;
      }
      if (this.src[this.pos] === "-" && this.src[this.pos + 1] !== "]" && this.pos + 1 < this.src.length) {
        this.pos++;
        const hi = this.classAtom();
        if (hi.ranges || hi.code === undefined || lo.code === undefined || hi.code < lo.code)
          throw new PatternError("bad class range");
        ranges.push([lo.code, hi.code]);
      } else if (lo.code !== undefined) ranges.push([lo.code, lo.code]);
    }
    this.pos++;
    if (negated) return charClass([...ranges, ...JSON_UNSAFE], true);
    const safe = subtractRanges(ranges, JSON_UNSAFE);
    if (safe.length === 0) throw new PatternError("a class of characters JSON must escape");
    return charClass(safe);
  }

  private classAtom(): { code?: number; ranges?: CharRanges } {
    const char = this.src[this.pos++];
    if (char !== "\\") return { code: (char + this.surrogateTail(char)).codePointAt(0) };
    const escaped = this.parseEscape(true);
    return escaped.isSet ? { ranges: escaped.ranges } : { code: escaped.ranges?.[0]?.[0] };
  }
}

function single(code: number): { expression: string; ranges: CharRanges } {
  return { expression: literalForJson(String.fromCodePoint(code)), ranges: [[code, code]] };
}

/** The JSON text for a literal character: escaped if JSON requires it. */
function literalForJson(char: string): string {
  return literal(JSON.stringify(char).slice(1, -1));
}

function safeClass(ranges: CharRanges): string {
  return charClass(subtractRanges(ranges, JSON_UNSAFE));
}
