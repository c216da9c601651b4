import { SETTINGS } from "../config/settings.js";
import type { GenerateRequest } from "../provider/types.js";
import { lengthUnits } from "./policy/features.js";
import { type Contribution, logit } from "./policy/model.js";

export type { Contribution };
export { lengthUnits };

/**
 * The routing policy: pure functions that score a request's difficulty from the request alone, so the
 * decision costs microseconds and can be explained in one line. The score is a logistic regression over
 * the ask (hand-made features and n-grams, trained on data/routing/ by `npm run train:router`) plus fixed
 * weights for what the labelled prompts cannot teach (requested length, conversation depth, tools and
 * schemas); a request at or above the threshold goes to the cloud (docs/routing.md).
 */

export interface PolicyInput {
  /** The text the model is asked to act on now: the last user message, or a text prompt. */
  ask: string;
  /** Every message's text, for length. */
  conversationChars: number;
  /** Conversation length in user turns. */
  userTurns: number;
  /** Requested completion cap, if any. */
  maxTokens?: number;
  /** Tools offered to the model. */
  toolCount: number;
  /** A JSON schema the answer must follow, if any. */
  schema?: unknown;
}

export interface Assessment {
  /** 0 (trivial) .. 1 (hard): the model's probability that the ask is too hard for the local model. */
  score: number;
  /** The features that moved the score, in logits, largest first (by size). */
  contributions: Contribution[];
}

/** Default difficulty at or above which "auto" goes to the cloud (`EDGELLM_ROUTE_THRESHOLD`). */
export const DEFAULT_THRESHOLD = SETTINGS.routeThreshold.default;

/** The policy's view of a request. */
export function policyInput(request: GenerateRequest): PolicyInput {
  const { prompt, format } = request;
  const toolCount = prompt.kind === "chat" ? (prompt.tools?.length ?? 0) : 0;
  const toolSchemas = prompt.kind === "chat" ? prompt.tools?.map((t) => t.parameters) : undefined;
  const schema = format?.kind === "json_schema" ? [format.schema, toolSchemas] : toolSchemas;
  if (prompt.kind === "text") {
    return {
      ask: prompt.text,
      conversationChars: prompt.text.length,
      userTurns: 1,
      maxTokens: request.sampling.maxTokens,
      toolCount,
      schema,
    };
  }
  const users = prompt.messages.filter((m) => m.role === "user");
  return {
    ask: users.at(-1)?.content ?? prompt.messages.at(-1)?.content ?? "",
    conversationChars: prompt.messages.reduce((n, m) => n + m.content.length, 0),
    userTurns: users.length,
    maxTokens: request.sampling.maxTokens,
    toolCount,
    schema,
  };
}

/**
 * Logits of the request signals the labelled prompts do not have (they are single asks without tools or
 * limits), so they are set by hand rather than learned: each is about what one strong keyword weighs.
 */
const MAX_TOKENS_LONG = { atLeast: 4000, weight: 1.5 };
const MAX_TOKENS_MEDIUM = { atLeast: 1500, weight: 0.75 };
const TURNS_DEEP = { atLeast: 8, weight: 1 };
const TURNS_SOME = { atLeast: 4, weight: 0.5 };
/** Logits per tool offered and per node of a JSON schema, and their cap. */
const PER_TOOL = 0.25;
const PER_SCHEMA_NODE = 0.1;
const STRUCTURE_CAP = 1.5;

/** Scores how hard a request is. Pure; microseconds for a typical prompt. */
export function assess(input: PolicyInput): Assessment {
  const extraUnits = Math.max(0, input.conversationChars - input.ask.length) / 6;
  const { z: learned, contributions } = logit(input.ask, extraUnits);
  let z = learned;
  const add = (feature: string, weight: number) => {
    contributions.push({ feature, weight });
    z += weight;
  };

  if (input.maxTokens !== undefined && input.maxTokens >= MAX_TOKENS_LONG.atLeast)
    add("max_tokens", MAX_TOKENS_LONG.weight);
  else if (input.maxTokens !== undefined && input.maxTokens >= MAX_TOKENS_MEDIUM.atLeast)
    add("max_tokens", MAX_TOKENS_MEDIUM.weight);

  if (input.userTurns >= TURNS_DEEP.atLeast) add("deep conversation", TURNS_DEEP.weight);
  else if (input.userTurns >= TURNS_SOME.atLeast) add("deep conversation", TURNS_SOME.weight);

  const structure = Math.min(
    STRUCTURE_CAP,
    PER_TOOL * input.toolCount + PER_SCHEMA_NODE * schemaComplexity(input.schema),
  );
  if (structure > 0) add("schema/tools", structure);

  contributions.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
  return { score: round(1 / (1 + Math.exp(-z))), contributions };
}

/** Number of properties, items and nesting levels in a JSON schema: a rough size of what is asked. */
export function schemaComplexity(schema: unknown, depth = 0): number {
  if (schema === null || typeof schema !== "object" || depth > 16) return 0;
  let n = depth > 0 ? 1 : 0;
  for (const value of Object.values(schema as Record<string, unknown>)) {
    if (value !== null && typeof value === "object") n += schemaComplexity(value, depth + 1);
  }
  return n;
}

/**
 * One line explaining an assessment with its three largest contributions in logits, e.g.
 * `difficulty 0.93 >= 0.50 (proof +4.30, "证明" +0.52, reasoning +2.38)`.
 */
export function explain(assessment: Assessment, threshold: number): string {
  const op = assessment.score >= threshold ? ">=" : "<";
  const top = assessment.contributions
    .slice(0, 3)
    .map((c) => `${c.feature} ${c.weight >= 0 ? "+" : ""}${c.weight.toFixed(2)}`)
    .join(", ");
  return `difficulty ${assessment.score.toFixed(2)} ${op} ${threshold.toFixed(2)}${top ? ` (${top})` : ""}`;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
