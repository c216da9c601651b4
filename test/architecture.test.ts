import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

// Runs from dist/test/; the sources are two levels up.
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src");

/** A top-level folder of src/, or a file directly in src/ (without extension). */
function layerOf(file: string): string {
  const [first, second] = path.relative(SRC, file).split(path.sep);
  return second === undefined ? first.replace(/\.ts$/, "") : first;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function relativeImports(text: string): string[] {
  const found = text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm);
  return [...found].map((m) => m[1]);
}

/** Layer -> layers it imports, with one file that shows each edge. */
function layerGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const spec of relativeImports(readFileSync(file, "utf8"))) {
      const to = layerOf(path.resolve(path.dirname(file), spec));
      if (to !== from && !edges.has(to)) edges.set(to, `${path.relative(SRC, file)} imports ${spec}`);
    }
  }
  return graph;
}

/** One cycle as a list of layers (first repeated at the end), or undefined. */
function findCycle(graph: Map<string, Iterable<string>>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe("architecture", () => {
  it("finds a cycle when there is one (so the next test can fail)", () => {
    const graph = new Map([
      ["api", ["router"]],
      ["router", ["engine"]],
      ["engine", ["structured"]],
      ["structured", ["engine"]],
    ]);
    assert.deepEqual(findCycle(graph), ["engine", "structured", "engine"]);
    assert.equal(
      findCycle(
        new Map([
          ["api", ["router"]],
          ["router", []],
        ]),
      ),
      undefined,
    );
  });

  it("no two top-level folders of src/ import each other in a circle", () => {
    const graph = layerGraph();
    assert.ok(graph.size >= 8, `expected the src/ layers, found ${[...graph.keys()]}`);
    const cycle = findCycle(new Map([...graph].map(([layer, edges]) => [layer, edges.keys()])));
    if (cycle) {
      const why = cycle.slice(1).map((to, i) => graph.get(cycle[i])?.get(to));
      assert.fail(`import cycle ${cycle.join(" -> ")}:\n  ${why.join("\n  ")}`);
    }
  });

  it("the contract (src/provider/) imports nothing of ours", () => {
    const edges = layerGraph().get("provider");
    assert.ok(edges, "src/provider/ exists");
    assert.deepEqual([...edges.values()], []);
  });

  it("the settings table (src/config/) imports nothing of ours, so every layer may take its defaults", () => {
    const edges = layerGraph().get("config");
    assert.ok(edges, "src/config/ exists");
    assert.deepEqual([...edges.values()], []);
  });
});
