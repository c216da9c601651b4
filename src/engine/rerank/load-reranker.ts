import path from "node:path";
import { getLlama, LlamaLogLevel, type LlamaModel } from "node-llama-cpp";
import { contextOf } from "../embeddings/embedding-model.js";
import type { EmbeddingModelSettings } from "../embeddings/load-embeddings.js";
import { PromptTokenizer } from "../prompt-tokenizer.js";
import { LlamaServerReranker } from "./llama-server-reranker.js";
import { LocalReranker } from "./local-reranker.js";
import {
  checkReranker,
  type RerankBackend,
  RerankModel,
  rerankTemplateOf,
  scoresAreProbabilities,
} from "./rerank-model.js";

/**
 * Tokens of a slot beyond the longest pair edgellm lets through: llama-server tokenizes the texts again, and
 * a defused control-token text is a token or two longer there.
 */
const SLOT_MARGIN = 16;

/**
 * Loads the reranker (`--rerank-model`) on the chat model's engine: a llama-server child with `--reranking`,
 * or node-llama-cpp's ranking context in-process. Its vocabulary is loaded here to build the pairs.
 */
export async function loadReranker(settings: EmbeddingModelSettings): Promise<RerankModel> {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  let vocabulary: LlamaModel | undefined;
  let backend: RerankBackend | undefined;
  let contextSize: number;
  const inProcess = settings.kind === "in-process";
  try {
    if (inProcess) {
      const loaded = await LocalReranker.load(llama, settings);
      ({ model: vocabulary, reranker: backend, contextSize } = loaded);
    } else {
      if (!settings.binary) throw new Error("no llama-server binary for the reranker");
      vocabulary = await llama.loadModel({ modelPath: settings.modelPath, vocabOnly: true });
      checkReranker(vocabulary, settings.modelPath);
      contextSize = contextOf(vocabulary, settings.contextSize);
      const templated = rerankTemplateOf(vocabulary) !== undefined;
      const specials = new PromptTokenizer(vocabulary, settings.modelPath).specials;
      backend = await LlamaServerReranker.load({
        ...settings,
        binary: settings.binary,
        contextSize: contextSize + SLOT_MARGIN,
        defuse: templated ? (text) => specials.defuse(text) : undefined,
        logits: !scoresAreProbabilities(vocabulary),
      });
    }
    return new RerankModel({
      vocabulary,
      modelPath: settings.modelPath,
      backend,
      ownsVocabulary: !inProcess,
      maxInputTokens: contextSize - 1,
      info: {
        id: path.basename(settings.modelPath).replace(/\.gguf$/i, ""),
        created: Math.floor(Date.now() / 1000),
        ownedBy: "edgellm",
        contextSize,
      },
    });
  } catch (error) {
    await backend?.dispose();
    if (!inProcess) await vocabulary?.dispose();
    throw error;
  }
}
