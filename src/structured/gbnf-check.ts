/**
 * Checks a GBNF grammar the way llama.cpp (node-llama-cpp 3.22) will compile it, before it does: the
 * compile runs synchronously on the event loop, once when the grammar is created and again for every
 * generation, and some grammars make it throw (a 500), take exponential time, or describe documents that
 * never end. The parse (llama-grammar-parse.ts) mirrors llama-grammar.cpp's, so the counts below are
 * llama.cpp's.
 */

import { LimitReached, LlamaParse, type Rule, UNDEFINED, weightOf } from "./llama-grammar-parse.js";

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
