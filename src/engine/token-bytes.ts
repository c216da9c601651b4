import type { LlamaModel, Token } from "node-llama-cpp";
import type { TokenLogprob } from "../provider/types.js";

/** ln(0) would be -Infinity, which JSON cannot carry; OpenAI reports -9999 for such tokens. */
const MIN_LOGPROB = -9999;

/**
 * The exact UTF-8 bytes of each token, for logprobs: a byte-level BPE token may hold part of a
 * character, which a detokenized string cannot show. GPT-2-style vocabularies (Qwen's) store each
 * byte as a printable code point; other vocabularies fall back to the detokenized text.
 */
export class TokenBytes {
  private readonly vocabulary: readonly string[] | undefined;
  private readonly decode = new Map<number, number>();
  private readonly cache = new Map<number, number[]>();

  constructor(private readonly model: LlamaModel) {
    const ggml = model.fileInfo.metadata?.tokenizer?.ggml;
    this.vocabulary = ggml?.model === "gpt2" ? ggml.tokens : undefined;
    // GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n.
    let next = 256;
    for (let byte = 0; byte < 256; byte++) {
      const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
      this.decode.set(printable ? byte : next++, byte);
    }
  }

  bytes(token: Token): number[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    const bytes = this.compute(token);
    if (this.cache.size < 65_536) this.cache.set(token, bytes);
    return bytes;
  }

  /** The token as OpenAI's logprobs list it, given its probability (0 for one never reported). */
  entry(token: number, probability: number): TokenLogprob["top"][number] {
    return {
      token: this.text(token as Token),
      bytes: this.bytes(token as Token),
      logprob: probability > 0 ? Math.log(probability) : MIN_LOGPROB,
    };
  }

  /** The token as text; an incomplete character shows as U+FFFD. */
  text(token: Token): string {
    return Buffer.from(this.bytes(token)).toString("utf8");
  }

  private compute(token: Token): number[] {
    const piece = this.vocabulary?.[token];
    if (piece !== undefined && !this.model.isSpecialToken(token)) {
      const bytes: number[] = [];
      for (const char of piece) {
        const byte = this.decode.get(char.codePointAt(0) ?? -1);
        if (byte === undefined) return [...Buffer.from(piece, "utf8")];
        bytes.push(byte);
      }
      return bytes;
    }
    return [...Buffer.from(this.model.detokenize([token], true), "utf8")];
  }
}
