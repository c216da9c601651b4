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
  /** llama.cpp's left-recursion check would walk more than `maxLeftWalk` paths. */
  | { kind: "left-paths" }
  /** Rules no finite text matches: a generation entering one could never finish. */
  | { kind: "infinite"; rules: string[] };

export interface GrammarLimits {
  maxElements: number;
  maxLeftWalk: number;
}

/**
 * What llama.cpp would build: rules as flat element lists, END/ALT separating alternatives. A reference
 * is the rule id (>= 0); a run of w terminal elements (characters, class ranges) is one entry -(2 + w).
 */
type Element = number;
const ALT = -1;
const END = -2;
const isRef = (e: Element) => e >= 0;
/** How many elements llama.cpp stores for an entry. */
const weight = (e: Element) => (e >= ALT - 1 ? 1 : -e - 2);
const weightOf = (rule: Element[]) => rule.reduce((sum, e) => sum + weight(e), 0);
const NO_MAX = Number.POSITIVE_INFINITY;

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
    const rules = parsed.rules;
    const names = parsed.names;
    for (let id = 0; id < rules.length; id++)
      if (!rules[id]) return { kind: "syntax", message: `undefined rule ${names[id]}` };
    const rootId = parsed.idOf.get(root);
    if (rootId === undefined) return { kind: "syntax", message: `no rule ${root}` };
    const alts = rules.map(alternatives);
    const nullable = fixpoint(alts, false);
    const cycle = leftCycle(alts, nullable);
    if (cycle) return { kind: "left-recursion", rules: unique(cycle.map((id) => names[id])) };
    if (!leftPathsWithin(rules, alts, limits.maxLeftWalk)) return { kind: "left-paths" };
    const productive = fixpoint(alts, true);
    const dead = rules.map((_, id) => id).filter((id) => !productive[id]);
    if (dead.length > 0) return { kind: "infinite", rules: unique(dead.map((id) => names[id])) };
    return undefined;
  } catch (error) {
    if (error instanceof LimitReached) return error.problem;
    throw error;
  }
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/** The alternatives of a rule, without the ALT/END markers. */
function alternatives(rule: Element[]): Element[][] {
  const alts: Element[][] = [[]];
  for (const e of rule) {
    if (e === ALT) alts.push([]);
    else if (e !== END) alts[alts.length - 1].push(e);
  }
  return alts;
}

/**
 * Least fixpoint of "some alternative of the rule has only references that hold" (`withTerminals`: and
 * terminals, for productivity; without, an alternative with a terminal never holds, for nullability),
 * in time linear in the grammar: each alternative counts its references not yet known to hold.
 */
function fixpoint(rules: Element[][][], withTerminals: boolean): boolean[] {
  const known = rules.map(() => false);
  const owners: number[] = [];
  const missing: number[] = [];
  const waiting: number[][] = rules.map(() => []);
  const queue: number[] = [];
  const settle = (rule: number) => {
    if (known[rule]) return;
    known[rule] = true;
    queue.push(rule);
  };
  rules.forEach((alts, id) => {
    for (const alt of alts) {
      let refs = 0;
      for (const e of alt) if (isRef(e)) refs++;
      if (!withTerminals && refs < alt.length) continue;
      if (refs === 0) settle(id);
      else {
        const index = owners.push(id) - 1;
        missing.push(refs);
        for (const e of alt) if (isRef(e)) waiting[e].push(index);
      }
    }
  });
  while (queue.length > 0) {
    for (const index of waiting[queue.pop() as number]) if (--missing[index] === 0) settle(owners[index]);
  }
  return known;
}

/** References each rule can start with (through nullable prefixes): llama.cpp's left positions. */
function leftEdges(rules: Element[][][], nullable: boolean[]): number[][] {
  return rules.map((alts) => {
    const edges: number[] = [];
    for (const alt of alts) {
      for (const e of alt) {
        if (!isRef(e)) break;
        edges.push(e);
        if (!nullable[e]) break;
      }
    }
    return edges;
  });
}

/** A cycle of left edges (iterative DFS), as rule ids, or undefined. */
function leftCycle(rules: Element[][][], nullable: boolean[]): number[] | undefined {
  const edges = leftEdges(rules, nullable);
  const state = rules.map(() => 0); // 0 new, 1 on the path, 2 done
  for (let start = 0; start < rules.length; start++) {
    if (state[start] !== 0) continue;
    const path: { id: number; next: number }[] = [{ id: start, next: 0 }];
    state[start] = 1;
    while (path.length > 0) {
      const top = path[path.length - 1];
      if (top.next === edges[top.id].length) {
        state[top.id] = 2;
        path.pop();
        continue;
      }
      const child = edges[top.id][top.next++];
      if (state[child] === 1) return path.slice(path.findIndex((f) => f.id === child)).map((f) => f.id);
      if (state[child] === 0) {
        state[child] = 1;
        path.push({ id: child, next: 0 });
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
function leftPathsWithin(rules: Element[][], alts: Element[][][], max: number): boolean {
  const visited = rules.map(() => false);
  const mayBeEmpty = alts.map((list) => list.some((alt) => alt.length === 0));
  const weights = rules.map(weightOf);
  let steps = 0;
  for (let start = 0; start < rules.length; start++) {
    if (visited[start]) continue;
    steps += weights[start];
    const stack: { id: number; index: number; recurse: boolean }[] = [{ id: start, index: 0, recurse: true }];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      const rule = rules[frame.id];
      if (frame.index === rule.length) {
        visited[frame.id] = true;
        stack.pop();
        const parent = stack[stack.length - 1];
        // llama.cpp keeps looking right of a child only when the child has an empty alternative.
        if (parent && !mayBeEmpty[frame.id]) parent.recurse = false;
        continue;
      }
      const e = rule[frame.index++];
      if (isRef(e) && frame.recurse) {
        steps += weights[e];
        if (steps > max) return false;
        stack.push({ id: e, index: 0, recurse: true });
      } else frame.recurse = e === ALT || e === END;
    }
  }
  return true;
}

/** llama_grammar_parser::parse, keeping only what the checks need. */
class LlamaParse {
  readonly rules: Element[][] = [];
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
    }
    return id;
  }

  private generate(owner: string): number {
    this.names.push(owner);
    return this.names.length - 1;
  }

  private add(id: number, rule: Element[], owner: string): void {
    this.rules[id] = rule;
    this.count(weightOf(rule), owner);
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
    const rule: Element[] = [];
    this.sequence(owner, rule, nested);
    while (this.src[this.pos] === "|") {
      rule.push(ALT);
      this.pos++;
      this.space(true);
      this.sequence(owner, rule, nested);
    }
    rule.push(END);
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
      this.count(weightOf(rule) + copies * weightOf(prev), owner, false);
      if (min === 0) rule.length = lastStart;
      for (let i = 0; i < copies; i++) rule.push(...prev);
      let last = 0;
      const optional = max === NO_MAX ? 1 : max - min;
      for (let i = 0; i < optional; i++) {
        const id = this.generate(owner);
        const rec: Element[] = [...prev];
        if (i > 0 || max === NO_MAX) rec.push(max === NO_MAX ? id : last);
        rec.push(ALT, END);
        this.add(id, rec, owner);
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
    if (elements > 0) rule.push(-2 - elements);
  }
}

function isNameChar(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    code === 0x2d ||
    code === 0x5f
  );
}
