import type { GrammarProblem } from "./gbnf-check.js";

/** llama.cpp's MAX_REPETITION_THRESHOLD: larger bounds, or group rules x repetitions, throw. */
const LLAMA_REPETITION_THRESHOLD = 2000;

/**
 * What llama.cpp would build, as each rule's alternatives (llama.cpp separates them with ALT/END
 * elements). A reference is the rule id (>= 0); a run of w terminal elements (characters, class ranges)
 * is one entry -w.
 */
export type Element = number;
export type Rule = Element[][];
/** The empty alternative of every repetition rule, shared. */
const EMPTY: Element[] = [];
/** A rule referred to but not (yet) defined; rules stay a dense array. */
export const UNDEFINED: Rule = [];
const NO_MAX = Number.POSITIVE_INFINITY;
/** Elements llama.cpp stores for an alternative, its ALT or END marker included. */
export function weightOf(alt: Element[]): number {
  let weight = 1;
  for (const e of alt) weight += e >= 0 ? 1 : -e;
  return weight;
}

export class LimitReached extends Error {
  constructor(readonly problem: GrammarProblem) {
    super(problem.kind);
  }
}

/**
 * llama_grammar_parser::parse (llama-grammar.cpp, node-llama-cpp 3.22), keeping only what gbnf-check.ts
 * needs: rule ids in the same order, groups and repetitions expanded into the same rules, the same
 * repetition threshold. Throws LimitReached past `maxElements`, before building anything that large.
 */
export class LlamaParse {
  readonly rules: Rule[] = [];
  /** Rule names by id; a rule llama.cpp generates (group, repetition) carries its named rule's name. */
  readonly names: string[] = [];
  readonly idOf = new Map<string, number>();
  private pos = 0;
  private elements = 0;
  private readonly perRule = new Map<string, number>();

  constructor(
    private readonly src: string,
    private readonly maxElements: number,
  ) {}

  parse(): void {
    this.space(true);
    while (this.pos < this.src.length) {
      const name = this.name();
      const id = this.symbol(name);
      this.space(false);
      if (!this.src.startsWith("::=", this.pos)) this.syntax("expecting ::=");
      this.pos += 3;
      this.space(true);
      this.alternates(name, id, false);
      if (this.src[this.pos] === "\n") this.pos++;
      else if (this.pos < this.src.length) this.syntax("expecting newline");
      this.space(true);
    }
  }

  private syntax(message: string): never {
    throw new LimitReached({ kind: "syntax", message: `${message} at ${this.pos}` });
  }

  private symbol(name: string): number {
    let id = this.idOf.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.idOf.set(name, id);
      this.names.push(name);
      this.rules.push(UNDEFINED);
    }
    return id;
  }

  private generate(owner: string): number {
    this.names.push(owner);
    this.rules.push(UNDEFINED);
    return this.names.length - 1;
  }

  private add(id: number, rule: Rule, owner: string): void {
    this.rules[id] = rule;
    let weight = 0;
    for (const alt of rule) weight += weightOf(alt);
    this.count(weight, owner);
  }

  /** Adds `elements` to the total, or throws a size problem before anything that large is built. */
  private count(elements: number, owner: string, commit = true): void {
    const own = (this.perRule.get(owner) ?? 0) + elements;
    if (commit) {
      this.elements += elements;
      this.perRule.set(owner, own);
    }
    if (this.elements + (commit ? 0 : elements) > this.maxElements) {
      this.perRule.set(owner, own);
      const [rule] = [...this.perRule].reduce((a, b) => (b[1] > a[1] ? b : a));
      throw new LimitReached({ kind: "size", rule, elements: this.elements });
    }
  }

  private space(newlines: boolean): void {
    while (this.pos < this.src.length) {
      const c = this.src[this.pos];
      if (c === " " || c === "\t" || (newlines && (c === "\n" || c === "\r"))) this.pos++;
      else if (c === "#") while (this.pos < this.src.length && this.src[this.pos] !== "\n") this.pos++;
      else break;
    }
  }

  private name(): string {
    const start = this.pos;
    while (this.pos < this.src.length && isNameChar(this.src.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) this.syntax("expecting a name");
    return this.src.slice(start, this.pos);
  }

  private alternates(owner: string, id: number, nested: boolean): void {
    const rule: Rule = [[]];
    this.sequence(owner, rule[0], nested);
    while (this.src[this.pos] === "|") {
      this.pos++;
      this.space(true);
      rule.push([]);
      this.sequence(owner, rule[rule.length - 1], nested);
    }
    this.add(id, rule, owner);
  }

  private sequence(owner: string, rule: Element[], nested: boolean): void {
    let lastStart = rule.length;
    let prevRules = 1;
    const repeat = (min: number, max: number) => {
      if (lastStart === rule.length) this.syntax("nothing to repeat");
      const prev = rule.slice(lastStart);
      const total = max !== NO_MAX && max > 0 ? max : min > 0 ? min : 1;
      if (prevRules * total > LLAMA_REPETITION_THRESHOLD)
        throw new LimitReached({ kind: "repetition", rule: owner });
      const copies = min === 0 ? 0 : min - 1;
      const optional = max === NO_MAX ? 1 : max - min;
      // Counted at once, before anything is built: each optional copy is a rule of prev, a reference and an
      // empty alternative.
      this.count(weightOf(rule) + copies * weightOf(prev), owner, false);
      this.count(optional * (weightOf(prev) + 2), owner);
      if (min === 0) rule.length = lastStart;
      for (let i = 0; i < copies; i++) rule.push(...prev);
      let last = 0;
      for (let i = 0; i < optional; i++) {
        const id = this.generate(owner);
        const rec: Element[] = [...prev];
        if (i > 0 || max === NO_MAX) rec.push(max === NO_MAX ? id : last);
        this.rules[id] = [rec, EMPTY];
        last = id;
      }
      if (optional > 0) rule.push(last);
      prevRules *= total;
    };
    while (this.pos < this.src.length) {
      const c = this.src[this.pos];
      if (c === '"' || c === "[") {
        lastStart = rule.length;
        prevRules = 1;
        this.terminal(rule);
      } else if (isNameChar(c.charCodeAt(0))) {
        lastStart = rule.length;
        prevRules = 1;
        rule.push(this.symbol(this.name()));
      } else if (c === "(") {
        this.pos++;
        this.space(true);
        const before = this.names.length;
        const id = this.generate(owner);
        this.alternates(owner, id, true);
        prevRules = Math.max(1, this.names.length - before);
        lastStart = rule.length;
        rule.push(id);
        if (this.src[this.pos] !== ")") this.syntax("expecting )");
        this.pos++;
      } else if (c === "*" || c === "+" || c === "?") {
        this.pos++;
        repeat(c === "+" ? 1 : 0, c === "?" ? 1 : NO_MAX);
      } else if (c === "{") {
        const match = /^\{(\d+)(?:(,)(\d*))?\}/.exec(this.src.slice(this.pos, this.pos + 64));
        if (!match) this.syntax("malformed repetition");
        this.pos += match[0].length;
        const min = Number(match[1]);
        let max = match[2] === undefined ? min : match[3] === "" ? NO_MAX : Number(match[3]);
        if (min > LLAMA_REPETITION_THRESHOLD) throw new LimitReached({ kind: "repetition", rule: owner });
        if (max > LLAMA_REPETITION_THRESHOLD) max = NO_MAX;
        repeat(min, max);
      } else break;
      this.space(nested);
    }
  }

  /** A literal or character class: one element per character or range, as llama.cpp stores them. */
  private terminal(rule: Element[]): void {
    const close = this.src[this.pos] === '"' ? '"' : "]";
    this.pos++;
    if (close === "]" && this.src[this.pos] === "^") this.pos++;
    let elements = 0;
    while (this.src[this.pos] !== close) {
      if (this.pos >= this.src.length) this.syntax("unterminated terminal");
      const c = this.src.charCodeAt(this.pos++);
      if (c === 0x5c) {
        const kind = this.src[this.pos++];
        this.pos += kind === "x" ? 2 : kind === "u" ? 4 : kind === "U" ? 8 : 0;
      } else if (c >= 0xd800 && c <= 0xdbff) this.pos++;
      elements++;
    }
    this.pos++;
    // A literal of no characters adds no element: its alternative may be empty.
    if (elements > 0) rule.push(-elements);
  }
}

function isNameChar(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    code === 0x2d
  );
}
