import type { AttachedStore, Citation } from "../types.js";

/**
 * What a chat keeps of the knowledge base (in localStorage, and in exports that may be edited or come from
 * an older page), read defensively: anything malformed is left out rather than breaking the chat.
 */

/** Citations as stored with a chat: anything malformed (an edited export, an older page) is left out. */
export function validCitations(value: unknown): Citation[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (c): c is Citation =>
      typeof c === "object" &&
      c !== null &&
      Number.isInteger(c.index) &&
      typeof c.text === "string" &&
      typeof c.filename === "string" &&
      Array.isArray(c.headingPath) &&
      c.headingPath.every((h: unknown) => typeof h === "string"),
  );
}

/** The knowledge bases a chat uses. */
export function validKnowledge(value: unknown): AttachedStore[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter(
      (k): k is AttachedStore =>
        typeof k === "object" && k !== null && typeof k.id === "string" && k.id !== "",
    )
    .map((k) => ({ id: k.id, name: typeof k.name === "string" ? k.name : "" }));
}
