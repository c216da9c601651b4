import path from "node:path";
import { getLlama, LlamaLogLevel, type LlamaModel } from "node-llama-cpp";
import type { EngineLogger } from "../llama-server/child.js";
import { contextOf, type EmbeddingBackend, EmbeddingModel, poolingOf } from "./embedding-model.js";
import { LlamaServerEmbedder } from "./llama-server-embedder.js";
import { LocalEmbedder } from "./local-embedder.js";

export interface EmbeddingModelSettings {
  /** The engine the chat model runs on; the embedding model runs on the same kind. */
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

/**
 * Loads the embedding model on the chat model's engine. In-process, the model tokenizes too; for
 * llama-server its vocabulary is loaded here to tokenize and to read its pooling type, size and context.
 */
export async function loadEmbeddingModel(settings: EmbeddingModelSettings): Promise<EmbeddingModel> {
  // Never disposed here: node-llama-cpp's backend is shared with the chat engine, which disposes it last.
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  let vocabulary: LlamaModel | undefined;
  let backend: EmbeddingBackend | undefined;
  let contextSize: number;
  const inProcess = settings.kind === "in-process";
  try {
    if (inProcess) {
      const loaded = await LocalEmbedder.load(llama, settings);
      ({ model: vocabulary, embedder: backend, contextSize } = loaded);
    } else {
      if (!settings.binary) throw new Error("no llama-server binary for the embedding model");
      vocabulary = await llama.loadModel({ modelPath: settings.modelPath, vocabOnly: true });
      contextSize = contextOf(vocabulary, settings.contextSize);
      backend = await LlamaServerEmbedder.load({
        ...settings,
        binary: settings.binary,
        contextSize,
        pooling: poolingOf(vocabulary),
      });
    }
    const metadata = vocabulary.fileInfo.architectureMetadata as { embedding_length?: number } | undefined;
    return new EmbeddingModel({
      vocabulary,
      modelPath: settings.modelPath,
      backend,
      ownsVocabulary: !inProcess,
      // node-llama-cpp refuses an input as long as its context; llama-server is held to the same bound.
      maxInputTokens: contextSize - 1,
      info: {
        id: path.basename(settings.modelPath).replace(/\.gguf$/i, ""),
        created: Math.floor(Date.now() / 1000),
        ownedBy: "edgellm",
        contextSize,
        dimensions: metadata?.embedding_length ?? vocabulary.embeddingVectorSize,
      },
    });
  } catch (error) {
    await backend?.dispose();
    if (!inProcess) await vocabulary?.dispose();
    throw error;
  }
}
