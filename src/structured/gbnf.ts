/**
 * GBNF building blocks shared by the schema and regex translators: literals, character classes and the
 * JSON terminals. Every JSON string character the grammar emits is either a plain character or an
 * escape, so the decoded string is what the rule describes.
 */

/** A GBNF string literal matching `text` exactly. */
export function literal(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"') out += '\\"';
    else if (char === "\\") out += "\\\\";
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (char === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += char;
  }
  return `${out}"`;
}

interface TrieNode {
  end: boolean;
  children: Map<string, TrieNode>;
}

/**
 * Exactly the strings `texts`, as alternatives sharing their common prefixes (a radix tree; `name`
 * makes a rule of each branching point). A flat list of N alternatives keeps N candidates alive while
 * decoding, and llama.cpp filters the vocabulary once per candidate: a 1000-value enum took 850 ms per
 * token with the tiny test model, as a tree far less (see docs/structured-output.md).
 */
export function literalTree(texts: string[], name: (body: string) => string): string {
  const root: TrieNode = { end: false, children: new Map() };
  for (const text of texts) {
    let node = root;
    for (const char of text) {
      let next = node.children.get(char);
      if (!next) {
        next = { end: false, children: new Map() };
        node.children.set(char, next);
      }
      node = next;
    }
    node.end = true;
  }
  const expression = (node: TrieNode): string => {
    const alternatives: string[] = [];
    for (const [char, child] of node.children) {
      let edge = char;
      let end = child;
      while (!end.end && end.children.size === 1) {
        const [[next, grandchild]] = end.children;
        edge += next;
        end = grandchild;
      }
      const rest = end.children.size === 0 ? "" : ` ${name(expression(end))}`;
      alternatives.push(`${literal(edge)}${rest}`);
    }
    if (node.end) alternatives.push('""');
    return alternatives.join(" | ");
  };
  return expression(root);
}

/** Inclusive code point ranges. */
export type CharRanges = [number, number][];

/** Code points that never appear raw inside a JSON string: controls, `"` and `\`. */
export const JSON_UNSAFE: CharRanges = [
  [0x00, 0x1f],
  [0x22, 0x22],
  [0x5c, 0x5c],
  [0x7f, 0x7f],
];

function classChar(code: number): string {
  const char = String.fromCodePoint(code);
  if ("]\\-^[".includes(char)) return `\\${char}`;
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, "0")}`;
  return char;
}

/** A GBNF character class over `ranges` (negated: every code point outside them). */
export function charClass(ranges: CharRanges, negated = false): string {
  const body = ranges
    .map(([lo, hi]) => (lo === hi ? classChar(lo) : `${classChar(lo)}-${classChar(hi)}`))
    .join("");
  return `[${negated ? "^" : ""}${body}]`;
}

/** `ranges` minus `removed`; both sorted or not, the result is sorted and merged. */
export function subtractRanges(ranges: CharRanges, removed: CharRanges): CharRanges {
  let result: CharRanges = ranges.map(([lo, hi]) => [lo, hi]);
  for (const [rlo, rhi] of removed) {
    const next: CharRanges = [];
    for (const [lo, hi] of result) {
      if (hi < rlo || lo > rhi) next.push([lo, hi]);
      else {
        if (lo < rlo) next.push([lo, rlo - 1]);
        if (hi > rhi) next.push([rhi + 1, hi]);
      }
    }
    result = next;
  }
  return result.sort((a, b) => a[0] - b[0]);
}

/**
 * JSON terminals, compact: at most one space after `:`, `,`, `{` and `[`, so a model with no sense of
 * JSON cannot pad the document with whitespace until max_tokens. Numbers are capped at 16 integer
 * digits, 15 fraction digits and a two-digit exponent, so they never overflow to Infinity.
 */
export const JSON_RULES: Record<string, string> = {
  ws: '" "?',
  // Escapes limited to the short forms: \u escapes cost grammar states on every token and could spell
  // lone surrogates, which count differently for maxLength.
  "json-char": '[^"\\\\\\x00-\\x1f\\x7f] | "\\\\" ["\\\\/bfnrt]',
  "json-string": '"\\"" json-char* "\\""',
  "json-int": '"-"? ("0" | [1-9] [0-9]{0,15})',
  "json-number": 'json-int ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,2})?',
  "json-boolean": '"true" | "false"',
  "json-null": '"null"',
  "json-value": "json-object | json-array | json-string | json-number | json-boolean | json-null",
  "json-object": '"{" ws (json-string ":" ws json-value ("," ws json-string ":" ws json-value)*)? "}"',
  "json-array": '"[" ws (json-value ("," ws json-value)*)? "]"',
};

/** Which JSON_RULES a rule body refers to, transitively. */
export function jsonRulesUsedBy(bodies: Iterable<string>): string[] {
  const used = new Set<string>();
  const visit = (body: string) => {
    for (const match of body.matchAll(/\b(ws|json-[a-z]+)\b/g)) {
      const name = match[1];
      if (used.has(name) || !(name in JSON_RULES)) continue;
      used.add(name);
      visit(JSON_RULES[name]);
    }
  };
  for (const body of bodies) visit(body);
  return [...used];
}

/**
 * The canonical decimal integers in [lo, hi] (lo >= 0; hi may be Infinity; capped at 15 digits, below 2^53),
 * built digit by digit as a regex range would be.
 */
export function uintRange(lo: number, hi: number): string | undefined {
  const top = Math.min(hi, 999_999_999_999_999);
  if (!(lo <= top)) return undefined;
  const alternatives: string[] = [];
  const minDigits = String(lo).length;
  const maxDigits = String(top).length;
  for (let digits = minDigits; digits <= maxDigits; digits++) {
    if (hi === Number.POSITIVE_INFINITY && digits === maxDigits && digits > minDigits) {
      alternatives.push(`[1-9] [0-9]{${digits - 1}}`);
      continue;
    }
    const from = Math.max(lo, digits === 1 ? 0 : 10 ** (digits - 1));
    const to = Math.min(top, 10 ** digits - 1);
    if (from <= to) alternatives.push(sameLength(String(from), String(to)));
  }
  return alternatives.length === 0 ? undefined : alternatives.map((a) => `(${a})`).join(" | ");
}

/** Digit strings of one length between `a` and `b` (leading zeros allowed below the first digit). */
function sameLength(a: string, b: string): string {
  if (a.length === 1) return a === b ? `"${a}"` : `[${a}-${b}]`;
  const [a0, b0] = [Number(a[0]), Number(b[0])];
  const restA = a.slice(1);
  const restB = b.slice(1);
  if (a0 === b0) return `"${a0}" (${sameLength(restA, restB)})`;
  const zeros = "0".repeat(restA.length);
  const nines = "9".repeat(restA.length);
  const parts: string[] = [];
  let midFrom = a0 + 1;
  let midTo = b0 - 1;
  if (restA === zeros) midFrom = a0;
  else parts.push(`"${a0}" (${sameLength(restA, nines)})`);
  if (restB === nines) midTo = b0;
  if (midFrom <= midTo) {
    const digit = midFrom === midTo ? `"${midFrom}"` : `[${midFrom}-${midTo}]`;
    parts.push(`${digit} [0-9]{${restA.length}}`);
  }
  if (restB !== nines) parts.push(`"${b0}" (${sameLength(zeros, restB)})`);
  return parts.join(" | ");
}
