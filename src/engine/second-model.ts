import path from "node:path";
import { getLlama, type Llama, LlamaLogLevel, type LlamaModel } from "node-llama-cpp";
import type { EngineLogger } from "./llama-server/child.js";

/** Where and how a second model (the embedding model, the reranker) runs: on the chat model's engine. */
export interface SecondModelSettings {
  /** The engine the chat model runs on; the second model runs on the same kind. */
  kind: "llama-server" | "in-process";
  /** The llama-server binary (for kind "llama-server"). */
  binary?: string;
  modelPath: string;
  /** Context per input, in tokens, at most; the model's training context caps it too. */
  contextSize: number;
  /** llama-server slots: inputs evaluated together. */
  parallel: number;
  threads?: number;
  mmap?: boolean;
  logger?: EngineLogger;
}

/** What an engine's backend gives: the model (whole in-process, its vocabulary for llama-server) and context. */
export interface LoadedBackend<B> {
  backend: B;
  vocabulary: LlamaModel;
  contextSize: number;
}

/**
 * Loads a second model on the chat model's engine: in-process the backend loads the model itself; for
 * llama-server the vocabulary is loaded here (to tokenize) and the backend starts its child. `build` makes
 * the served model of them; whatever was loaded is freed again when any step fails.
 */
export async function loadSecondModel<B extends { dispose(): Promise<void> }, M>(
  settings: SecondModelSettings,
  what: string,
  engines: {
    inProcess: (llama: Llama) => Promise<LoadedBackend<B>>;
    llamaServer: (vocabulary: LlamaModel, binary: string) => Promise<{ backend: B; contextSize: number }>;
  },
  build: (loaded: LoadedBackend<B> & { ownsVocabulary: boolean; id: string }) => M,
): Promise<M> {
  // Never disposed here: node-llama-cpp's backend is shared with the chat engine, which disposes it last.
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const inProcess = settings.kind === "in-process";
  let vocabulary: LlamaModel | undefined;
  let backend: B | undefined;
  try {
    let loaded: LoadedBackend<B>;
    if (inProcess) loaded = await engines.inProcess(llama);
    else {
      if (!settings.binary) throw new Error(`no llama-server binary for ${what}`);
      vocabulary = await llama.loadModel({ modelPath: settings.modelPath, vocabOnly: true });
      const started = await engines.llamaServer(vocabulary, settings.binary);
      loaded = { ...started, vocabulary };
    }
    ({ vocabulary, backend } = loaded);
    return build({
      ...loaded,
      ownsVocabulary: !inProcess,
      id: path.basename(settings.modelPath).replace(/\.gguf$/i, ""),
    });
  } catch (error) {
    await backend?.dispose();
    if (!inProcess) await vocabulary?.dispose();
    throw error;
  }
}
