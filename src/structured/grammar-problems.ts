import type { InvalidRequestError } from "../provider/errors.js";
import type { FieldPath } from "../provider/fields.js";
import { checkGrammar, type GrammarProblem } from "./gbnf-check.js";
import { MAX_GRAMMAR_ELEMENTS, MAX_LEFT_WALK, unsupported } from "./limits.js";

/** Where a rule of a grammar comes from: the error's field, and for a `$ref` rule the reference. */
export type RuleOrigin = (rule: string) => { field: FieldPath; ref?: string } | undefined;

/**
 * Throws the 400 for a grammar llama.cpp should not be given (see gbnf-check.ts): `origin` names the
 * schema keyword behind a rule, `fallback` the schema when no rule is to blame.
 */
export function checkCompilable(text: string, root: string, origin: RuleOrigin, fallback: FieldPath): void {
  const problem = checkGrammar(text, root, { maxElements: MAX_GRAMMAR_ELEMENTS, maxLeftWalk: MAX_LEFT_WALK });
  if (problem) throw problemError(problem, origin, fallback);
}

function problemError(problem: GrammarProblem, origin: RuleOrigin, fallback: FieldPath): InvalidRequestError {
  const refIn = (rules: string[]) => rules.map(origin).find((o) => o?.ref !== undefined);
  switch (problem.kind) {
    case "left-recursion": {
      const ref = refIn(problem.rules);
      return unsupported(
        ref?.field ?? fallback,
        `The JSON schema refers back to ${ref?.ref ?? "itself"} before any object or array, so it never produces a value; recursion must go through a property or an item.`,
      );
    }
    case "infinite": {
      const ref = refIn(problem.rules);
      return unsupported(
        ref?.field ?? fallback,
        `Every value of ${ref?.ref ?? "this schema"} must contain another one (through required properties, minItems or prefixItems), so no finite document matches; make the recursion optional.`,
      );
    }
    case "left-paths":
      return unsupported(
        fallback,
        `The JSON schema's references and alternatives ($ref, anyOf, oneOf) chain into too many paths for llama.cpp's grammar check (more than ${MAX_LEFT_WALK} steps); simplify them.`,
      );
    case "size":
      return unsupported(
        origin(problem.rule)?.field ?? fallback,
        `The grammar for the JSON schema would have more than ${MAX_GRAMMAR_ELEMENTS} elements once repetitions are expanded; lower minLength/maxLength, minItems/maxItems or pattern repetitions, or declare fewer properties.`,
      );
    case "repetition":
      return unsupported(
        origin(problem.rule)?.field ?? fallback,
        "The JSON schema repeats a part with too many alternatives for llama.cpp's grammar (2000 rules at most).",
      );
    default:
      return unsupported(
        fallback,
        `The JSON schema could not be compiled into a grammar (${problem.message}).`,
      );
  }
}
