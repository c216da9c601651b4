import { type LlamaModel, type Token, TokenBias } from "node-llama-cpp";
import { InvalidRequestError } from "../provider/errors.js";
import type { SamplingParams } from "../provider/types.js";

/**
 * OpenAI's `logit_bias` for both local engines: checked against the model's vocabulary, and turned into
 * node-llama-cpp's TokenBias or llama-server's `logit_bias` list. A bias of -100 bans the token outright
 * (as OpenAI documents it), not merely makes it unlikely.
 */

/** The bias at or below which a token is banned. */
const BAN = -100;

/** Refuses a token id the model does not have (400 `invalid_value`, param `logit_bias`). */
export function checkLogitBias(sampling: SamplingParams, vocabularySize: number): void {
  for (const [id] of sampling.logitBias ?? []) {
    if (id >= vocabularySize)
      throw new InvalidRequestError(
        (name) =>
          `Invalid value for '${name("logitBias")}': token id ${id} is not in this model's vocabulary (ids 0 to ${vocabularySize - 1}).`,
        { field: "logitBias" },
      );
  }
}

/** The biases as node-llama-cpp applies them: added to the logits, -Infinity for a ban. */
export function toTokenBias(model: LlamaModel, logitBias: readonly [number, number][]): TokenBias {
  const bias = new TokenBias(model.tokenizer);
  for (const [id, value] of logitBias) setBias(bias, id as Token, value <= BAN ? -Infinity : value);
  return bias;
}

/**
 * Sets one token's logit bias. TokenBias.set skips end-of-generation tokens (node-llama-cpp 3.22), which
 * would make `ignore_eos` and a bias on the end token silently do nothing; its map is written directly
 * when it has the shape that version uses, so such a bias applies as it does on llama-server.
 */
export function setBias(bias: TokenBias, token: Token, logit: number): void {
  const map = (bias as unknown as { _biases?: unknown })._biases;
  if (map instanceof Map) map.set(token, logit);
  else bias.set(token, logit === -Infinity ? "never" : { logit });
}

/** llama-server's `/completion` form: `[[id, bias], ...]`, `false` banning the token. */
export function toLlamaServerBias(logitBias: readonly [number, number][]): [number, number | false][] {
  return logitBias.map(([id, value]) => [id, value <= BAN ? false : value]);
}
