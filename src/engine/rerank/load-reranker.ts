import { contextOf } from "../embeddings/embedding-model.js";
import { PromptTokenizer } from "../prompt-tokenizer.js";
import { loadSecondModel, type SecondModelSettings } from "../second-model.js";
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
export function loadReranker(settings: SecondModelSettings): Promise<RerankModel> {
  return loadSecondModel<RerankBackend, RerankModel>(
    settings,
    "the reranker",
    {
      inProcess: async (llama) => {
        const { model, reranker, contextSize } = await LocalReranker.load(llama, settings);
        return { backend: reranker, vocabulary: model, contextSize };
      },
      llamaServer: async (vocabulary, binary) => {
        checkReranker(vocabulary, settings.modelPath);
        const contextSize = contextOf(vocabulary, settings.contextSize);
        const templated = rerankTemplateOf(vocabulary) !== undefined;
        const specials = new PromptTokenizer(vocabulary, settings.modelPath).specials;
        const backend = await LlamaServerReranker.load({
          ...settings,
          binary,
          contextSize: contextSize + SLOT_MARGIN,
          defuse: templated ? (text) => specials.defuse(text) : undefined,
          logits: !scoresAreProbabilities(vocabulary),
        });
        return { backend, contextSize };
      },
    },
    ({ vocabulary, backend, contextSize, ownsVocabulary, id }) =>
      new RerankModel({
        vocabulary,
        modelPath: settings.modelPath,
        backend,
        ownsVocabulary,
        maxInputTokens: contextSize - 1,
        info: { id, created: Math.floor(Date.now() / 1000), ownedBy: "edgellm", contextSize },
      }),
  );
}
