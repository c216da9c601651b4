import { parentPort, workerData } from "node:worker_threads";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

/**
 * Tokenizes large prompts off the main thread (see prompt-tokenizer.ts). It loads only the model's vocabulary,
 * and tokenizes plain text: control tokens were already split out on the main thread.
 */

export interface TokenizeJob {
  id: number;
  texts: string[];
}

export type TokenizeAnswer = { id: number; tokens: Uint32Array[] } | { id: number; error: string };

const { modelPath } = workerData as { modelPath: string };
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, vocabOnly: true });

parentPort?.on("message", (job: TokenizeJob) => {
  let answer: TokenizeAnswer;
  try {
    answer = { id: job.id, tokens: job.texts.map((text) => Uint32Array.from(model.tokenize(text, false))) };
  } catch (error) {
    answer = { id: job.id, error: String(error) };
  }
  parentPort?.postMessage(
    answer,
    "tokens" in answer ? answer.tokens.map((t) => t.buffer as ArrayBuffer) : [],
  );
});
parentPort?.postMessage("ready");
