import os from "node:os";
import {
  getLlama,
  InputLookupTokenPredictor,
  type Llama,
  LlamaGrammarEvaluationState,
  LlamaLogLevel,
  type LlamaModel,
  type Token,
  TokenBias,
} from "node-llama-cpp";

/**
 * Measurements on node-llama-cpp itself, with no server in between: the floor the server is compared to.
 * Sampling settings match the server's defaults so the two loops do the same work per token.
 */
export const SAMPLING = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 } as const;

export interface BareResults {
  loadSeconds: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  /** Time to the first token when `newTokens` are added after a cached prefix (the second turn's work). */
  secondTurnNewTokensMs: number;
}

export class BareEngine {
  private constructor(
    readonly llama: Llama,
    readonly model: LlamaModel,
    readonly loadSeconds: number,
  ) {}

  static async load(modelPath: string): Promise<BareEngine> {
    const start = performance.now();
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    // The same load and context settings as LocalEngine, so the comparison is only the serving layer.
    const model = await llama.loadModel({ modelPath, useMmap: false });
    return new BareEngine(llama, model, (performance.now() - start) / 1000);
  }

  chatTokens(user: string): Token[] {
    const text = `<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n`;
    return this.model.tokenize(text, true);
  }

  eogBans(): TokenBias {
    const bias = new TokenBias(this.model.tokenizer);
    for (const token of [this.model.tokens.eos, this.model.tokens.eot, this.model.tokens.bos]) {
      if (token !== null) bias.set(token, "never");
    }
    return bias;
  }

  async prefill(tokens: Token[], threads = os.availableParallelism()): Promise<number> {
    const context = await this.model.createContext({ contextSize: 2048, threads, flashAttention: true });
    try {
      const sequence = context.getSequence();
      const start = performance.now();
      await sequence.evaluateWithoutGeneratingNewTokens(tokens);
      return tokens.length / ((performance.now() - start) / 1000);
    } finally {
      await context.dispose();
    }
  }

  /** Decode speed between the first and the last token, as the server's figure is taken. */
  async decode(prompt: Token[], count: number, threads = os.availableParallelism()): Promise<number> {
    const context = await this.model.createContext({ contextSize: 2048, threads, flashAttention: true });
    try {
      const sequence = context.getSequence();
      let first = 0;
      let n = 0;
      for await (const _token of sequence.evaluate(prompt, {
        ...SAMPLING,
        seed: 1,
        tokenBias: this.eogBans(),
      })) {
        if (n === 0) first = performance.now();
        if (++n >= count) break;
      }
      return (n - 1) / ((performance.now() - first) / 1000);
    } finally {
      await context.dispose();
    }
  }

  /** Total tokens/s of `streams` sequences decoding together in one context: what batching can give. */
  async batched(streams: number, count: number): Promise<number> {
    const context = await this.model.createContext({
      contextSize: 1024,
      sequences: streams,
      threads: os.availableParallelism(),
      flashAttention: true,
    });
    try {
      const bias = this.eogBans();
      const start = performance.now();
      let total = 0;
      await Promise.all(
        Array.from({ length: streams }, async (_, i) => {
          const sequence = context.getSequence();
          const prompt = this.chatTokens(`Client ${i}: tell me a long story.`);
          let n = 0;
          for await (const _token of sequence.evaluate(prompt, { ...SAMPLING, seed: i, tokenBias: bias })) {
            total++;
            if (++n >= count) break;
          }
        }),
      );
      return total / ((performance.now() - start) / 1000);
    } finally {
      await context.dispose();
    }
  }

  /** The cost of a second turn's new tokens alone: evaluate them after a cached prefix, to the first token. */
  async extendPrefix(prefix: Token[], newTokens: Token[]): Promise<number> {
    const context = await this.model.createContext({
      contextSize: 2048,
      threads: os.availableParallelism(),
      flashAttention: true,
    });
    try {
      const sequence = context.getSequence();
      await sequence.evaluateWithoutGeneratingNewTokens(prefix);
      const start = performance.now();
      for await (const _token of sequence.evaluate(newTokens, { ...SAMPLING, seed: 1 })) break;
      return performance.now() - start;
    } finally {
      await context.dispose();
    }
  }

  /**
   * Prompt-lookup decoding on a copying task. The synthetic model has random weights and would never copy,
   * so a grammar forces its output to be the input document: the drafts are then as right as a real model's
   * would be on a faithful copy, and the figure isolates what the mechanism buys.
   */
  async lookupSpeedup(document: string): Promise<{ plain: number; lookup: number; tokens: number }> {
    const prompt = this.chatTokens(`Copy this JSON exactly:\n${document}`);
    const grammar = await this.llama.createGrammar({ grammar: `root ::= ${JSON.stringify(document)}` });
    const run = async (lookup: boolean) => {
      const context = await this.model.createContext({
        contextSize: 2048,
        threads: os.availableParallelism(),
      });
      try {
        const sequence = context.getSequence({
          tokenPredictor: lookup ? new InputLookupTokenPredictor() : undefined,
        });
        const state = new LlamaGrammarEvaluationState({ model: this.model, grammar });
        // Prefill all but the last prompt token, so the timed loop is decoding (plus one token).
        await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, -1));
        let n = 0;
        const start = performance.now();
        for await (const _token of sequence.evaluate([prompt.at(-1) as Token], {
          temperature: 0,
          grammarEvaluationState: state,
        })) {
          n++;
        }
        return { rate: n / ((performance.now() - start) / 1000), n };
      } finally {
        await context.dispose();
      }
    };
    const plain = await run(false);
    const lookup = await run(true);
    return { plain: plain.rate, lookup: lookup.rate, tokens: plain.n };
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
    await this.llama.dispose();
  }
}
