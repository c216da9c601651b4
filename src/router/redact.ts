import type { ChatMessage, GenerateRequest } from "../provider/types.js";

/**
 * Redaction of personal data before a request leaves the machine. Pure functions; each match is
 * replaced by a typed placeholder so the cloud model still knows something was there.
 */

interface Rule {
  kind: string;
  pattern: RegExp;
  /** Extra check on a match (e.g. a checksum); default: every match counts. */
  accept?: (match: string) => boolean;
}

// Order matters: more specific patterns first, so a resident ID is not half-eaten as a phone.
const RULES: Rule[] = [
  { kind: "EMAIL", pattern: /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}/gu },
  // PRC resident identity card: 6-digit area, YYYYMMDD birth date, 3-digit sequence, check digit.
  {
    kind: "ID_NUMBER",
    pattern:
      /(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])/g,
  },
  // US social security number.
  { kind: "ID_NUMBER", pattern: /(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)/g },
  // Chinese mainland mobile: optional +86, then 1[3-9] and nine digits, optionally grouped 3-4-4.
  { kind: "PHONE", pattern: /(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)/g },
  // International or North American numbers: +CC ..., or (NNN) NNN-NNNN / NNN-NNN-NNNN.
  { kind: "PHONE", pattern: /(?<![\w+])\+\d{1,3}[ -]?(?:\(?\d{1,4}\)?[ -]?){2,4}\d{2,4}(?!\d)/g },
  { kind: "PHONE", pattern: /(?<!\d)(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?!\d)/g },
  // Payment card: 13-19 digits, optionally grouped, passing the Luhn check. Last, because a grouped
  // phone number can pass Luhn by chance.
  { kind: "CARD_NUMBER", pattern: /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g, accept: luhn },
];

export interface RedactionResult {
  text: string;
  /** How many matches of each kind were replaced. */
  counts: Record<string, number>;
}

/** Replaces e-mail addresses, phone numbers and ID numbers with `[EMAIL]`, `[PHONE]`, `[ID_NUMBER]`... */
export function redactText(text: string): RedactionResult {
  const counts: Record<string, number> = {};
  let out = text;
  for (const rule of RULES) {
    out = out.replace(rule.pattern, (match) => {
      if (rule.accept && !rule.accept(match)) return match;
      counts[rule.kind] = (counts[rule.kind] ?? 0) + 1;
      return `[${rule.kind}]`;
    });
  }
  return { text: out, counts };
}

/**
 * The request with every message (or the text prompt) and every tool call's arguments redacted, and the
 * total number of redactions. Tool definitions pass unchanged: they are the developer's schema, not the
 * user's data, and rewriting a parameter schema would change what the model may call.
 */
export function redactRequest(request: GenerateRequest): { request: GenerateRequest; redactions: number } {
  let redactions = 0;
  const redact = (text: string) => {
    const result = redactText(text);
    for (const n of Object.values(result.counts)) redactions += n;
    return result.text;
  };
  if (request.prompt.kind === "text")
    return {
      request: { ...request, prompt: { kind: "text", text: redact(request.prompt.text) } },
      redactions,
    };
  const messages = request.prompt.messages.map((m): ChatMessage => {
    const message = { ...m, content: redact(m.content) };
    if (m.toolCalls)
      message.toolCalls = m.toolCalls.map((c) => ({ ...c, arguments: redactArguments(c.arguments, redact) }));
    return message;
  });
  // Spread, not rebuilt: the prompt's tools (and the request's tool choice) must reach the upstream.
  return { request: { ...request, prompt: { ...request.prompt, messages } }, redactions };
}

/**
 * A tool call's JSON arguments with their values redacted. Parsed rather than matched as text, so a
 * placeholder never lands where a JSON number was and breaks the document: a number that reads as
 * personal data becomes the placeholder string. Arguments that are not JSON are redacted as text.
 */
function redactArguments(text: string, redact: (text: string) => string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return redact(text);
  }
  const walk = (value: unknown): unknown => {
    if (typeof value === "string") return redact(value);
    if (typeof value === "number") {
      const digits = String(value);
      const redacted = redact(digits);
      return redacted === digits ? value : redacted;
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === "object")
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
    return value;
  };
  return JSON.stringify(walk(parsed));
}

function luhn(candidate: string): boolean {
  const digits = candidate.replace(/\D/g, "");
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
