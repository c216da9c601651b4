import { grammarFor } from "../../src/engine/grammar.js";
import type { JsonSchema } from "../../src/provider/types.js";

/** The grammar the engine builds for a `json_schema` answer format: what schema tests compile and sample. */
export function documentGrammar(schema: JsonSchema): string {
  const grammar = grammarFor({
    prompt: { kind: "text", text: "" },
    format: { kind: "json_schema", name: "t", schema },
  });
  if (grammar === undefined) throw new Error("a json_schema format always has a grammar");
  return grammar;
}
