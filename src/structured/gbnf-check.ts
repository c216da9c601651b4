/**
 * Checks a GBNF grammar the way llama.cpp (node-llama-cpp 3.22) will compile it, before it does: the
 * compile runs synchronously on the event loop, once when the grammar is created and again for every
 * generation, and some grammars make it throw (a 500), take exponential time, or describe documents that
 * never end. The parse below mirrors llama-grammar.cpp's (rule ids in the same order, groups and
 * repetitions expanded into the same rules), so its counts are llama.cpp's.
 */

/** llama.cpp's MAX_REPETITION_THRESHOLD: larger bounds, or group rules x repetitions, throw. */
const LLAMA_REPETITION_THRESHOLD = 2000;

export type GrammarProblem =
  /** Text the parser rejects: a bug in the generator, never the user's doing. */
  | { kind: "syntax"; message: string }
  /** A repetition llama.cpp refuses (bound or rules x repetitions above its threshold). */
  | { kind: "repetition"; rule: string }
  /** More elements than `maxElements`; `rule` is the named rule that has the most. */
  | { kind: "size"; rule: string; elements: number }
  /** Rules that can reach themselves without consuming input; llama.cpp refuses them. */
  | { kind: "left-recursion"; rules: string[] }
  /** llama.cpp's left-recursion check would scan more than `maxLeftWalk` elements. */
  | { kind: "left-paths" }
  /** Rules no finite text matches: a generation entering one could never finish. */
  | { kind: "infinite"; rules: string[] };

export interface GrammarLimits {
  maxElements: number;
  maxLeftWalk: number;
}

/**
 * What llama.cpp would build, as each rule's alternatives (llama.cpp separates them with ALT/END
 * elements). A reference is the rule id (>= 0); a run of w terminal elements (characters, class ranges)
 * is one entry -w.
 */
type Element = number;
type Rule = Element[][];
/** The empty alternative of every repetition rule, shared. */
const EMPTY: Element[] = [];
/** A rule referred to but not (yet) defined; rules stay a dense array. */
const UNDEFINED: Rule = [];
const NO_MAX = Number.POSITIVE_INFINITY;
/** Elements llama.cpp stores for an alternative, its ALT or END marker included. */
function weightOf(alt: Element[]): number {
  let weight = 1;
  for (const e of alt) weight += e >= 0 ? 1 : -e;
  return weight;
}

class LimitReached extends Error {
  constructor(readonly problem: GrammarProblem) {
    super(problem.kind);
  }
}

/** The first problem llama.cpp would have with `text`, or undefined. */
export function checkGrammar(text: string, root: string, limits: GrammarLimits): GrammarProblem | undefined {
  try {
    const parsed = new LlamaParse(text, limits.maxElements);
    parsed.parse();
    const { rules, names } = parsed;
    for (let id = 0; id < names.length; id++)
      if (rules[id] === UNDEFINED) return { kind: "syntax", message: `undefined rule ${names[id]}` };
    if (!parsed.idOf.has(root)) return { kind: "syntax", message: `no rule ${root}` };
    const index = indexOf(rules);
    const nullable = fixpoint(rules, index, false);
    const cycle = leftCycle(rules, nullable);
    if (cycle) return { kind: "left-recursion", rules: unique(cycle.map((id) => names[id])) };
    if (!leftWalkWithin(rules, limits.maxLeftWalk)) return { kind: "left-paths" };
    const productive = fixpoint(rules, index, true);
    const dead = names.filter((_, id) => !productive[id]);
    if (dead.length > 0) return { kind: "infinite", rules: unique(dead) };
    return undefined;
  } catch (error) {
    if (error instanceof LimitReached) return error.problem;
    throw error;
  }
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/** Every alternative, and for each rule the alternatives that refer to it (once per reference). */
interface Index {
  owner: Int32Array;
  refs: Int32Array;
  terminal: Uint8Array;
  /** Alternatives referring to rule r: users[offsets[r] .. offsets[r + 1]). */
  offsets: Int32Array;
  users: Int32Array;
}

function indexOf(rules: Rule[]): Index {
  let alts = 0;
  let total = 0;
  const counts = new Int32Array(rules.length + 1);
  for (let id = 0; id < rules.length; id++) {
    const rule = rules[id];
    alts += rule.length;
    for (let i = 0; i < rule.length; i++) {
      const alt = rule[i];
      for (let j = 0; j < alt.length; j++)
        if (alt[j] >= 0) {
          total++;
          counts[alt[j] + 1]++;
        }
    }
  }
  const offsets = new Int32Array(rules.length + 1);
  for (let r = 0; r < rules.length; r++) offsets[r + 1] = offsets[r] + counts[r + 1];
  const fill = offsets.slice(0, rules.length);
  const index: Index = {
    owner: new Int32Array(alts),
    refs: new Int32Array(alts),
    terminal: new Uint8Array(alts),
    offsets,
    users: new Int32Array(total),
  };
  let a = 0;
  for (let id = 0; id < rules.length; id++) {
    const rule = rules[id];
    for (let i = 0; i < rule.length; i++, a++) {
      const alt = rule[i];
      index.owner[a] = id;
      for (let j = 0; j < alt.length; j++) {
        const e = alt[j];
        if (e < 0) index.terminal[a] = 1;
        else {
          index.refs[a]++;
          index.users[fill[e]++] = a;
        }
      }
    }
  }
  return index;
}

/**
 * Least fixpoint of "some alternative of the rule has only references that hold" (`withTerminals`: and
 * terminals, for productivity; without, an alternative with a terminal never holds, for nullability),
 * in time linear in the grammar: each alternative counts its references not yet known to hold.
 */
function fixpoint(rules: Rule[], index: Index, withTerminals: boolean): Uint8Array {
  const known = new Uint8Array(rules.length);
  const missing = index.refs.slice();
  const queue = new Int32Array(rules.length);
  let queued = 0;
  const settle = (alt: number) => {
    const rule = index.owner[alt];
    if (known[rule] || (!withTerminals && index.terminal[alt])) return;
    known[rule] = 1;
    queue[queued++] = rule;
  };
  for (let alt = 0; alt < missing.length; alt++) if (missing[alt] === 0) settle(alt);
  for (let done = 0; done < queued; done++) {
    const rule = queue[done];
    for (let u = index.offsets[rule]; u < index.offsets[rule + 1]; u++) {
      const alt = index.users[u];
      if (--missing[alt] === 0) settle(alt);
    }
  }
  return known;
}

/**
 * A cycle of rules reaching one another without consuming input (through nullable prefixes), found by
 * an iterative depth-first search; undefined if there is none.
 */
function leftCycle(rules: Rule[], nullable: Uint8Array): number[] | undefined {
  const state = new Uint8Array(rules.length); // 0 new, 1 on the path, 2 done
  const path: number[] = [];
  const alts: number[] = [];
  const positions: number[] = [];
  for (let start = 0; start < rules.length; start++) {
    if (state[start] !== 0) continue;
    state[start] = 1;
    path.push(start);
    alts.push(0);
    positions.push(0);
    while (path.length > 0) {
      const top = path.length - 1;
      const rule = rules[path[top]];
      const alt = rule[alts[top]];
      let child = -1;
      if (alt !== undefined && positions[top] < alt.length) {
        const e = alt[positions[top]];
        // A terminal, or a rule that must consume, ends this alternative's left positions.
        if (e >= 0 && (positions[top] === 0 || nullable[alt[positions[top] - 1]])) child = e;
        if (e < 0 || child < 0) positions[top] = alt.length;
        else positions[top]++;
      } else if (alt !== undefined) {
        alts[top]++;
        positions[top] = 0;
        continue;
      } else {
        state[path[top]] = 2;
        path.pop();
        alts.pop();
        positions.pop();
        continue;
      }
      if (child < 0) continue;
      if (state[child] === 1) return path.slice(path.indexOf(child));
      if (state[child] === 0) {
        state[child] = 1;
        path.push(child);
        alts.push(0);
        positions.push(0);
      }
    }
  }
  return undefined;
}

/**
 * Replays llama_grammar_detect_left_recursion, which walks every left path from each unvisited rule
 * without memoizing and scans each rule it enters, counting the elements scanned; false when they
 * exceed `max`. Runs after leftCycle, so the walk terminates.
 */
function leftWalkWithin(rules: Rule[], max: number): boolean {
  const visited = new Uint8Array(rules.length);
  const mayBeEmpty = new Uint8Array(rules.length);
  const weights = new Float64Array(rules.length);
  rules.forEach((rule, id) => {
    for (const alt of rule) {
      weights[id] += weightOf(alt);
      if (alt.length === 0) mayBeEmpty[id] = 1;
    }
  });
  let steps = 0;
  // The walk's stack: rule, alternative, position, and whether the position is still a left one.
  const ids: number[] = [];
  const alts: number[] = [];
  const positions: number[] = [];
  const left: boolean[] = [];
  for (let start = 0; start < rules.length; start++) {
    if (visited[start]) continue;
    steps += weights[start];
    ids.push(start);
    alts.push(0);
    positions.push(0);
    left.push(true);
    while (ids.length > 0) {
      const top = ids.length - 1;
      const alt = rules[ids[top]][alts[top]];
      if (alt === undefined) {
        visited[ids[top]] = 1;
        const done = ids.pop() as number;
        alts.pop();
        positions.pop();
        left.pop();
        // llama.cpp keeps looking right of a child only when the child has an empty alternative.
        if (ids.length > 0 && !mayBeEmpty[done]) left[ids.length - 1] = false;
        continue;
      }
      if (!left[top] || positions[top] === alt.length) {
        alts[top]++;
        positions[top] = 0;
        left[top] = true;
        continue;
      }
      const e = alt[positions[top]++];
      if (e < 0) {
        left[top] = false;
        continue;
      }
      steps += weights[e];
      if (steps > max) return false;
      ids.push(e);
      alts.push(0);
      positions.push(0);
      left.push(true);
    }
  }
  return true;
}

/** llama_grammar_parser::parse, keeping only what the checks need. */
class LlamaParse {
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
