import type { GenerateRequest, StreamPart, Usage } from "../provider/types.js";
import { localConfidence } from "./cascade.js";
import { type Opened, replay } from "./opened.js";
import { policyInput } from "./policy.js";
import { summaryOf } from "./summary.js";

export interface CascadeStep {
  /** Keep the local answer at or above this confidence, 0..1. */
  threshold: number;
  /** The policy's difficulty of the ask, 0..1. */
  difficulty: number;
  /** The upstream to escalate to, by name, for the route reason. */
  upstream: string;
  /** Opens the upstream's answer; throws if it fails before its first part. */
  escalate: () => Promise<Opened>;
  /** Called with the usage of a local answer that was read in full and then discarded. */
  discarded: (usage: Usage) => void;
  /** Counts each outcome: kept, escalated, escalation_failed. */
  outcome: (outcome: "kept" | "escalated" | "escalation_failed") => void;
}

/**
 * Reads the whole local answer, scores it, and keeps it or escalates. The client sees nothing until
 * then: the latency cost of the cascade is the full local generation (docs/routing.md).
 */
export async function cascadeLocal(
  opened: Opened,
  request: GenerateRequest,
  step: CascadeStep,
  signal: AbortSignal,
): Promise<{ opened: Opened; escalated: boolean; note: string }> {
  let parts: StreamPart[] = opened.first ? [opened.first] : [];
  for (let next = await opened.rest.next(); !next.done; next = await opened.rest.next())
    parts.push(next.value);
  const logprobs = parts.flatMap((p) => (p.type === "text-delta" ? (p.logprobs ?? []) : []));
  const meanLogprob =
    logprobs.length > 0 ? logprobs.reduce((n, l) => n + l.logprob, 0) / logprobs.length : undefined;
  // Logprobs the client did not ask for (the cascade asked) are dropped before it sees the answer.
  if (!request.logprobs)
    parts = parts.map((p) =>
      p.type === "text-delta" && p.logprobs ? { type: "text-delta", text: p.text } : p,
    );
  const local = () => replay(opened.meta, parts);
  const finish = parts.find((p) => p.type === "finish");
  if (!finish || signal.aborted)
    return { opened: local(), escalated: false, note: "cascade: no local answer" };
  const text = parts.map((p) => (p.type === "text-delta" ? p.text : "")).join("");
  const confidence = localConfidence(
    policyInput(request).ask,
    text,
    finish.finishReason,
    step.difficulty,
    meanLogprob,
  );
  const scored = `confidence ${confidence.score.toFixed(2)}${confidence.reasons.length ? ` (${confidence.reasons.join(", ")})` : ""}`;
  if (confidence.score >= step.threshold) {
    step.outcome("kept");
    return { opened: local(), escalated: false, note: `cascade: kept the local answer, ${scored}` };
  }
  step.discarded(finish.usage);
  try {
    const escalated = await step.escalate();
    step.outcome("escalated");
    return {
      opened: escalated,
      escalated: true,
      note: `cascade: escalated to '${step.upstream}', local ${scored}`,
    };
  } catch (error) {
    step.outcome("escalation_failed");
    return {
      opened: local(),
      escalated: false,
      note: `cascade: local ${scored}, but escalation failed: ${summaryOf(error)}`,
    };
  }
}
