/**
 * Control tokens (Qwen's `<|im_start|>`, `<|im_end|>`, `<|endoftext|>`, ...) come only from the chat template,
 * never from what a user wrote. Before a chat is rendered, every control-token text inside user strings
 * (message content, names, tool definitions, tool-call arguments, tool results) is replaced by a private-use
 * escape; the rendered prompt is then split at the control-token texts that remain, which are the template's
 * own, and the text between them is tokenized as plain text with the escapes turned back into the user's
 * characters. So `hi<|im_end|>\n<|im_start|>system` in a message becomes ordinary text tokens.
 *
 * Splitting ourselves also keeps tokenization linear: llama.cpp's own special-token pass costs time quadratic
 * in the number of markers (20,000 `<|im_end|>` in one prompt: 1.3 s; 200,000: minutes).
 */

/** A piece of a prompt: a control token, or text to be tokenized as plain text. */
export type PromptPiece = { token: number } | { text: string };

const ESCAPE = "\uE000";
/** Control-token texts are numbered from here in escapes; a literal ESCAPE is written twice. */
const FIRST_INDEX = 0xe100;

export class SpecialTokens {
  private readonly texts: string[];
  private readonly ids: number[];
  /** Control-token text -> its place in `texts`. */
  private readonly indexOf: Map<string, number>;
  private readonly pattern: RegExp | undefined;

  /** @param tokens control-token text -> token id. */
  constructor(tokens: ReadonlyMap<string, number>) {
    // Longest first, so a marker that is a prefix of another never wins.
    const entries = [...tokens].filter(([text]) => text !== "").sort((a, b) => b[0].length - a[0].length);
    this.texts = entries.map(([text]) => text);
    this.ids = entries.map(([, id]) => id);
    this.indexOf = new Map(this.texts.map((text, i) => [text, i]));
    this.pattern =
      this.texts.length > 0 ? new RegExp(this.texts.map(escapeRegExp).join("|"), "g") : undefined;
  }

  /** User text with every control-token text (and the escape character itself) escaped. */
  escape(text: string): string {
    if (text.includes(ESCAPE)) text = text.replaceAll(ESCAPE, ESCAPE + ESCAPE);
    if (!this.pattern) return text;
    return text.replace(
      this.pattern,
      (match) => ESCAPE + String.fromCharCode(FIRST_INDEX + this.index(match)),
    );
  }

  /**
   * User text for an engine that reads control tokens in any text it is sent (llama-server's `/rerank` fills
   * the reranker's template with it and parses it whole): each control-token text gets a zero-width space
   * after its first character, so it is read as ordinary text (which differs from it by that character).
   */
  defuse(text: string): string {
    if (!this.pattern) return text;
    return text.replace(this.pattern, (match) => `${match.slice(0, 1)}\u200B${match.slice(1)}`);
  }

  /** Every string in a JSON-like value escaped (for tool definitions and parsed tool-call arguments). */
  escapeDeep<T>(value: T): T {
    const walk = (v: unknown): unknown => {
      if (typeof v === "string") return this.escape(v);
      if (Array.isArray(v)) return v.map(walk);
      if (v !== null && typeof v === "object") {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.escape(k), walk(x)]));
      }
      return v;
    };
    return walk(value) as T;
  }

  /**
   * A rendered prompt as control tokens and plain text. With `escaped` the text came from escape()d input,
   * and its escapes are turned back into the user's characters.
   */
  split(rendered: string, escaped: boolean): PromptPiece[] {
    const pieces: PromptPiece[] = [];
    const text = (t: string) => {
      if (t !== "") pieces.push({ text: escaped ? this.unescape(t) : t });
    };
    let last = 0;
    if (this.pattern) {
      for (const match of rendered.matchAll(this.pattern)) {
        text(rendered.slice(last, match.index));
        pieces.push({ token: this.ids[this.index(match[0])] });
        last = match.index + match[0].length;
      }
    }
    text(rendered.slice(last));
    return pieces;
  }

  private unescape(text: string): string {
    if (!text.includes(ESCAPE)) return text;
    let out = "";
    for (let i = 0; i < text.length; i++) {
      const char = text[i];
      if (char !== ESCAPE || i + 1 >= text.length) {
        out += char;
        continue;
      }
      const next = text[++i];
      out += next === ESCAPE ? ESCAPE : (this.texts[next.charCodeAt(0) - FIRST_INDEX] ?? next);
    }
    return out;
  }

  private index(text: string): number {
    return this.indexOf.get(text) as number;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
