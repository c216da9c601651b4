import { Worker } from "node:worker_threads";
import type { LlamaModel, Token } from "node-llama-cpp";
import { type PromptPiece, SpecialTokens } from "./special-tokens.js";
import type { TokenizeAnswer, TokenizeJob } from "./tokenize-worker.js";

export interface PromptTokenizerOptions {
  /**
   * Plain text larger than this many bytes is tokenized on a worker thread, so a huge prompt never holds the
   * event loop: llama.cpp tokenizes about 2-4 MB/s here (1 MB of English 230 ms, of Chinese 480 ms), so the
   * default keeps the main thread under ~4 ms per request. Default 8 KiB.
   */
  offThreadBytes?: number;
}

/** A prompt that cannot fit: it has at least this many tokens, known without tokenizing it. */
export interface TooLong {
  atLeast: number;
}

/**
 * Turns prompt pieces (control tokens from the template, plain text from everyone) into tokens. Small prompts
 * are tokenized in place; large ones on a worker thread holding the vocabulary only; a prompt whose size alone
 * proves it cannot fit the context is refused without tokenizing it at all.
 */
export class PromptTokenizer {
  readonly specials: SpecialTokens;
  /** The longest normal token, in bytes: a text of n bytes has at least n / this many tokens. */
  private readonly maxTokenBytes: number;
  private readonly offThreadBytes: number;
  private worker?: TokenizeWorker;

  constructor(
    private readonly model: LlamaModel,
    private readonly modelPath: string,
    options: PromptTokenizerOptions = {},
  ) {
    this.offThreadBytes = options.offThreadBytes ?? 8 * 1024;
    const ggml = model.fileInfo.metadata?.tokenizer?.ggml;
    const texts: readonly string[] = ggml?.tokens ?? [];
    const types: readonly number[] | undefined = ggml?.token_type;
    const specials = new Map<string, number>();
    let maxBytes = 1;
    for (let id = 0; id < texts.length; id++) {
      // llama.cpp may promote a token to control at load, but only among those GGUF does not call normal (1).
      if (types && types[id] === 1) {
        maxBytes = Math.max(maxBytes, Buffer.byteLength(texts[id]));
        continue;
      }
      const attributes = model.getTokenAttributes(id as Token);
      if (attributes.control || attributes.unknown) {
        specials.set(model.detokenize([id as Token], true), id);
      } else maxBytes = Math.max(maxBytes, Buffer.byteLength(texts[id]));
    }
    this.specials = new SpecialTokens(specials);
    this.maxTokenBytes = maxBytes;
  }

  /** Starts the worker ahead of the first large prompt (its vocabulary takes about a second to load). */
  warmUp(): void {
    this.worker ??= new TokenizeWorker(this.modelPath);
  }

  /** Tokens of the pieces, or how many there are at least when that already exceeds `limit`. */
  async tokenize(pieces: readonly PromptPiece[], limit: number): Promise<number[] | TooLong> {
    let bytes = 0;
    let controls = 0;
    const texts: string[] = [];
    for (const piece of pieces) {
      if ("token" in piece) controls++;
      else {
        bytes += Buffer.byteLength(piece.text);
        texts.push(piece.text);
      }
    }
    const atLeast = controls + Math.ceil(bytes / this.maxTokenBytes);
    if (atLeast > limit) return { atLeast };
    const tokenized: ArrayLike<number>[] =
      bytes <= this.offThreadBytes
        ? texts.map((text) => this.model.tokenize(text, false))
        : await this.offThread(texts);
    const tokens: number[] = [];
    let next = 0;
    for (const piece of pieces) {
      if ("token" in piece) tokens.push(piece.token);
      else {
        const part = tokenized[next++];
        for (let i = 0; i < part.length; i++) tokens.push(part[i]);
      }
    }
    return tokens;
  }

  private offThread(texts: string[]): Promise<Uint32Array[]> {
    this.warmUp();
    return (this.worker as TokenizeWorker).tokenize(texts);
  }

  async dispose(): Promise<void> {
    await this.worker?.terminate();
  }
}

/** One worker thread with the vocabulary loaded; jobs are answered in order. */
class TokenizeWorker {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private readonly pending = new Map<number, { resolve(t: Uint32Array[]): void; reject(e: Error): void }>();
  private nextId = 0;
  private failure?: Error;

  constructor(modelPath: string) {
    this.worker = new Worker(new URL("./tokenize-worker.js", import.meta.url), { workerData: { modelPath } });
    // An idle worker must not keep the process alive.
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.once("message", () => resolve());
      this.worker.once("error", reject);
    });
    this.ready.catch(() => {});
    this.worker.on("message", (answer: TokenizeAnswer | "ready") => {
      if (answer === "ready") return;
      const job = this.pending.get(answer.id);
      this.pending.delete(answer.id);
      if ("error" in answer) job?.reject(new Error(answer.error));
      else job?.resolve(answer.tokens);
    });
    this.worker.on("error", (error) => this.fail(error));
    this.worker.on("exit", (code) => this.fail(new Error(`the tokenizer worker exited with code ${code}`)));
  }

  async tokenize(texts: string[]): Promise<Uint32Array[]> {
    await this.ready;
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, texts } satisfies TokenizeJob);
    });
  }

  async terminate(): Promise<void> {
    this.failure ??= new Error("the tokenizer was disposed");
    // Terminating while llama.cpp is still loading the vocabulary inside the worker is not safe.
    await this.ready.catch(() => {});
    await this.worker.terminate();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const job of this.pending.values()) job.reject(error);
    this.pending.clear();
  }
}
