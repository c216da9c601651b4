import type { Llama, LlamaGrammar } from "node-llama-cpp";
import type { Field } from "../provider/fields.js";
import type { GenerateRequest, ToolDefinition } from "../provider/types.js";
import { JSON_RULES, jsonRulesUsedBy, literal } from "../structured/gbnf.js";
import { checkCompilable } from "../structured/grammar-problems.js";
import { checkSchemaShape } from "../structured/limits.js";
import { SchemaGrammar } from "../structured/schema-grammar.js";
import { TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from "./tool-calls.js";

/** What decides a request's grammar. */
export type GrammarRequest = Pick<GenerateRequest, "format" | "toolChoice" | "parallelToolCalls" | "prompt">;

/**
 * The GBNF grammar a request's output must follow, or undefined for free text:
 * - a json / json_schema format: the document;
 * - tool_choice "required" or a named function: one or more `<tool_call>` blocks whose arguments follow
 *   the function's parameter schema;
 * - tool_choice "auto" with a response_format: either of the two.
 * Throws InvalidRequestError naming a schema keyword the grammar cannot enforce.
 */
export function grammarFor(request: GrammarRequest): string | undefined {
  const tools = request.prompt.kind === "chat" ? (request.prompt.tools ?? []) : [];
  const choice = tools.length === 0 ? "none" : (request.toolChoice ?? "auto");
  const format = request.format;
  const document =
    format === undefined
      ? undefined
      : format.kind === "json"
        ? { rootExpression: "json-object", text: "" }
        : SchemaGrammar.rules(format.schema, "format.schema", "document");
  if (choice === "none" || (choice === "auto" && !document)) {
    if (!document) return undefined;
    return merge([`root ::= ${document.rootExpression}`, document.text]);
  }
  const forced = typeof choice === "object" ? tools.filter((t) => t.name === choice.name) : tools;
  const calls = toolCallRules(forced, tools);
  const repeat = request.parallelToolCalls === false ? "" : ` ("\\n" tool-call)*`;
  const root =
    choice === "auto" && document
      ? `root ::= ${document.rootExpression} | tool-call${repeat}`
      : `root ::= tool-call${repeat}`;
  const grammar = merge([root, ...calls, document?.text ?? ""]);
  // Each schema is within the limits; several together may not be.
  if (forced.length + (document ? 1 : 0) > 1)
    checkCompilable(grammar, "root", (rule) => ({ field: fieldOfRule(rule) }), "tools");
  return grammar;
}

/** The schema a rule of the merged grammar comes from, by its namespace (see toolCallRules). */
function fieldOfRule(rule: string): Field {
  const tool = /^(?:t(\d+)-|args-(\d+)$)/.exec(rule);
  if (tool) return `tools.${Number(tool[1] ?? tool[2])}.parameters`;
  return rule === "root" || rule === "tool-call" ? "tools" : "format.schema";
}

/**
 * Refuses schemas nested too deep or too large before anything recursive (JSON.stringify, the
 * converter) touches them.
 */
function checkShapes(request: GrammarRequest): void {
  if (request.format?.kind === "json_schema") checkSchemaShape(request.format.schema, "format.schema");
  const tools = request.prompt.kind === "chat" ? (request.prompt.tools ?? []) : [];
  tools.forEach((tool, i) => {
    checkSchemaShape(tool.parameters, `tools.${i}.parameters`);
  });
}

function toolCallRules(forced: ToolDefinition[], all: ToolDefinition[]): string[] {
  const rules: string[] = [];
  const alternatives = forced.map((tool) => {
    const index = all.indexOf(tool);
    const args = SchemaGrammar.rules(
      tool.parameters ?? { type: "object" },
      `tools.${index}.parameters`,
      `args-${index}`,
      `t${index}-`,
    );
    // The exact bytes Qwen2.5's template renders for a call, so the model sees its own format.
    const head = literal(`${TOOL_CALL_OPEN}\n{"name": ${JSON.stringify(tool.name)}, "arguments": `);
    rules.push(args.text);
    return `${head} args-${index} ${literal(`}\n${TOOL_CALL_CLOSE}`)}`;
  });
  rules.unshift(`tool-call ::= ${alternatives.join(" | ")}`);
  return rules;
}

/** Joins grammar fragments, keeping one copy of each rule (the shared JSON rules appear in several). */
function merge(fragments: string[]): string {
  const lines = new Map<string, string>();
  for (const line of fragments.join("\n").split("\n")) {
    const match = /^(\S+) ::= /.exec(line);
    if (match && !lines.has(match[1])) lines.set(match[1], line);
  }
  for (const name of jsonRulesUsedBy(lines.values())) {
    if (!lines.has(name)) lines.set(name, `${name} ::= ${JSON_RULES[name]}`);
  }
  return `${[...lines.values()].join("\n")}\n`;
}

/**
 * Compiled grammars by GBNF text, least recently used evicted: converting a schema and having llama.cpp
 * parse the grammar costs milliseconds to tens of them for big schemas, every request.
 */
export class GrammarCache {
  private readonly entries = new Map<string, Promise<LlamaGrammar>>();
  private readonly byRequest = new Map<string, string | undefined>();

  /** @param capacity compiled grammars kept. Default 64. */
  constructor(
    private readonly llama: Llama,
    private readonly capacity = 64,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The request's GBNF text (memoized), or undefined for free text; throws like grammarFor. */
  textFor(request: GrammarRequest): string | undefined {
    checkShapes(request);
    const key = JSON.stringify([
      request.format,
      request.toolChoice,
      request.parallelToolCalls,
      request.prompt.kind === "chat" ? request.prompt.tools : undefined,
    ]);
    if (this.byRequest.has(key)) return this.byRequest.get(key);
    const text = grammarFor(request);
    this.remember(this.byRequest, key, text);
    return text;
  }

  async forRequest(request: GrammarRequest): Promise<LlamaGrammar | undefined> {
    const text = this.textFor(request);
    if (text === undefined) return undefined;
    let grammar = this.entries.get(text);
    if (grammar) this.entries.delete(text);
    else grammar = this.llama.createGrammar({ grammar: text });
    this.remember(this.entries, text, grammar);
    grammar.catch(() => this.entries.delete(text));
    return grammar;
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > this.capacity) map.delete(map.keys().next().value as string);
  }
}
