import { loadSecondModel, type SecondModelSettings } from "../second-model.js";
import { contextOf, type EmbeddingBackend, EmbeddingModel, poolingOf } from "./embedding-model.js";
import { LlamaServerEmbedder } from "./llama-server-embedder.js";
import { LocalEmbedder } from "./local-embedder.js";

/**
 * Loads the embedding model on the chat model's engine. In-process, the model tokenizes too; for
 * llama-server its vocabulary is loaded here to tokenize and to read its pooling type, size and context.
 */
export function loadEmbeddingModel(settings: SecondModelSettings): Promise<EmbeddingModel> {
  return loadSecondModel<EmbeddingBackend, EmbeddingModel>(
    settings,
    "the embedding model",
    {
      inProcess: async (llama) => {
        const { model, embedder, contextSize } = await LocalEmbedder.load(llama, settings);
        return { backend: embedder, vocabulary: model, contextSize };
      },
      llamaServer: async (vocabulary, binary) => {
        const contextSize = contextOf(vocabulary, settings.contextSize);
        const backend = await LlamaServerEmbedder.load({
          ...settings,
          binary,
          contextSize,
          pooling: poolingOf(vocabulary),
        });
        return { backend, contextSize };
      },
    },
    ({ vocabulary, backend, contextSize, ownsVocabulary, id }) => {
      const metadata = vocabulary.fileInfo.architectureMetadata as { embedding_length?: number } | undefined;
      return new EmbeddingModel({
        vocabulary,
        modelPath: settings.modelPath,
        backend,
        ownsVocabulary,
        // node-llama-cpp refuses an input as long as its context; llama-server is held to the same bound.
        maxInputTokens: contextSize - 1,
        info: {
          id,
          created: Math.floor(Date.now() / 1000),
          ownedBy: "edgellm",
          contextSize,
          dimensions: metadata?.embedding_length ?? vocabulary.embeddingVectorSize,
        },
      });
    },
  );
}
