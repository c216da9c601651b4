/**
 * Random texts of a GBNF grammar (the subset the schema translator emits), for property tests: every
 * text sampled is in the grammar's language, so a schema's grammar is sound when every sample validates
 * against the schema. Deep recursion is cut by switching to each rule's shortest alternative.
 */

type Item =
  | { kind: "literal"; text: string }
  | { kind: "class"; negated: boolean; ranges: [number, number][] }
  | { kind: "ref"; name: string }
  | { kind: "group"; alternatives: Item[][] }
  | { kind: "repeat"; item: Item; min: number; max: number };

/** Characters tried for a negated class: ASCII, controls, and a few multi-byte ones. */
const CANDIDATES = [...Array.from({ length: 0x80 }, (_, i) => i), 0xe9, 0x4e2d, 0x1f600];

/** A derivation's length and depth: the sampler ends recursion on the least, comparing length first. */
type Measure = [length: number, depth: number];
const INFINITE: Measure = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
const less = (a: Measure, b: Measure) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

export class GbnfSampler {
  private readonly rules = new Map<string, Item[][]>();
  /** Each rule's shortest derivation, once known (a least fixpoint, so choosing it always terminates). */
  private readonly shortest = new Map<string, Measure>();

  constructor(grammar: string) {
    for (const line of grammar.split("\n").filter(Boolean)) {
      const at = line.indexOf(" ::= ");
      const parser = new Parser(line.slice(at + 5));
      this.rules.set(line.slice(0, at), parser.alternatives());
    }
    for (let changed = true; changed; ) {
      changed = false;
      for (const [name, alts] of this.rules) {
        const best = this.best(alts);
        const measure: Measure = [best[0], best[1] + 1];
        if (less(measure, this.shortest.get(name) ?? INFINITE)) {
          this.shortest.set(name, measure);
          changed = true;
        }
      }
    }
  }

  sample(root: string, random: () => number, budget = 400): string {
    const state = { random, budget };
    return this.expand({ kind: "ref", name: root }, state);
  }

  private best(alternatives: Item[][]): Measure {
    return alternatives.map((alt) => this.measure(alt)).reduce((a, b) => (less(b, a) ? b : a));
  }

  private measure(items: Item[]): Measure {
    return items
      .map((item) => this.itemMeasure(item))
      .reduce<Measure>((a, b) => [a[0] + b[0], Math.max(a[1], b[1])], [0, 0]);
  }

  private itemMeasure(item: Item): Measure {
    switch (item.kind) {
      case "literal":
        return [item.text.length, 0];
      case "class":
        return [1, 0];
      case "ref":
        return this.shortest.get(item.name) ?? INFINITE;
      case "group":
        return this.best(item.alternatives);
      default: {
        if (item.min === 0) return [0, 0];
        const [length, depth] = this.itemMeasure(item.item);
        return [item.min * length, depth];
      }
    }
  }

  private expand(item: Item, state: { random: () => number; budget: number }): string {
    state.budget--;
    const pick = (alternatives: Item[][]): Item[] => {
      if (state.budget > 0) return alternatives[Math.floor(state.random() * alternatives.length)];
      return alternatives.reduce((a, b) => (less(this.measure(b), this.measure(a)) ? b : a));
    };
    switch (item.kind) {
      case "literal":
        return item.text;
      case "class":
        return String.fromCodePoint(sampleClass(item, state.random));
      case "ref": {
        const alternatives = this.rules.get(item.name);
        if (!alternatives) throw new Error(`undefined rule ${item.name}`);
        return pick(alternatives)
          .map((i) => this.expand(i, state))
          .join("");
      }
      case "group":
        return pick(item.alternatives)
          .map((i) => this.expand(i, state))
          .join("");
      default: {
        const spread = Math.min(item.max, item.min + 3) - item.min;
        const count = state.budget > 0 ? item.min + Math.floor(state.random() * (spread + 1)) : item.min;
        return Array.from({ length: count }, () => this.expand(item.item, state)).join("");
      }
    }
  }
}

function sampleClass(item: Extract<Item, { kind: "class" }>, random: () => number): number {
  const inside = (c: number) => item.ranges.some(([lo, hi]) => c >= lo && c <= hi);
  if (item.negated) {
    const allowed = CANDIDATES.filter((c) => !inside(c));
    return allowed[Math.floor(random() * allowed.length)];
  }
  const [lo, hi] = item.ranges[Math.floor(random() * item.ranges.length)];
  return lo + Math.floor(random() * (hi - lo + 1));
}

class Parser {
  private pos = 0;
  constructor(private readonly src: string) {}

  alternatives(): Item[][] {
    const alternatives = [this.sequence()];
    while (this.src[this.pos] === "|") {
      this.pos++;
      alternatives.push(this.sequence());
    }
    return alternatives;
  }

  private sequence(): Item[] {
    const items: Item[] = [];
    for (;;) {
      while (this.src[this.pos] === " ") this.pos++;
      const c = this.src[this.pos];
      if (c === undefined || c === "|" || c === ")") return items;
      let item = this.atom();
      for (
        let q = this.src[this.pos];
        q === "?" || q === "*" || q === "+" || q === "{";
        q = this.src[this.pos]
      ) {
        item = this.quantified(item);
      }
      items.push(item);
    }
  }

  private quantified(item: Item): Item {
    const c = this.src[this.pos];
    if (c !== "{") {
      this.pos++;
      const max = c === "?" ? 1 : Number.POSITIVE_INFINITY;
      return { kind: "repeat", item, min: c === "+" ? 1 : 0, max };
    }
    const match = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos)) as RegExpExecArray;
    this.pos += match[0].length;
    const min = Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === "" ? Number.POSITIVE_INFINITY : Number(match[3]);
    return { kind: "repeat", item, min, max };
  }

  private atom(): Item {
    const c = this.src[this.pos];
    if (c === '"') {
      let text = "";
      for (this.pos++; this.src[this.pos] !== '"'; ) text += String.fromCodePoint(this.char());
      this.pos++;
      return { kind: "literal", text };
    }
    if (c === "[") {
      this.pos++;
      const negated = this.src[this.pos] === "^";
      if (negated) this.pos++;
      const ranges: [number, number][] = [];
      while (this.src[this.pos] !== "]") {
        const lo = this.char();
        if (this.src[this.pos] === "-" && this.src[this.pos + 1] !== "]") {
          this.pos++;
          ranges.push([lo, this.char()]);
        } else ranges.push([lo, lo]);
      }
      this.pos++;
      return { kind: "class", negated, ranges };
    }
    if (c === "(") {
      this.pos++;
      const alternatives = this.alternatives();
      this.pos++;
      return { kind: "group", alternatives };
    }
    const name = /^[a-zA-Z0-9_-]+/.exec(this.src.slice(this.pos)) as RegExpExecArray;
    this.pos += name[0].length;
    return { kind: "ref", name: name[0] };
  }

  /** One character of a literal or class, escapes decoded. */
  private char(): number {
    const c = this.src.codePointAt(this.pos) as number;
    this.pos += c > 0xffff ? 2 : 1;
    if (c !== 0x5c) return c;
    const e = this.src[this.pos++];
    const hex = e === "x" ? 2 : e === "u" ? 4 : 0;
    if (hex > 0) {
      this.pos += hex;
      return Number.parseInt(this.src.slice(this.pos - hex, this.pos), 16);
    }
    return { n: 0x0a, r: 0x0d, t: 0x09 }[e as "n"] ?? e.charCodeAt(0);
  }
}

/** A seeded PRNG (mulberry32), so a failing sample can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
