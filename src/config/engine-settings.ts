import { choice, httpUrl, int, setting, text } from "./setting.js";

/** Which local engine runs the model. */
export const ENGINE_CHOICES = ["auto", "llama-server", "in-process"] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

/** The local engine: which one, where its binary is, how much RAM its prompt cache gets. */
export const ENGINE_SETTINGS = {
  engine: setting({
    flag: "--engine <engine>",
    env: "EDGELLM_ENGINE",
    default: "auto" as EngineChoice,
    help: "local engine: llama-server (llama.cpp's own loop, a managed child), in-process (node-llama-cpp), or auto",
    doc: "`llama-server` (llama.cpp's server as a managed child: the fast one), `in-process` (node-llama-cpp, no binary needed), or `auto`: llama-server when a binary is found, else in-process",
    parse: choice(ENGINE_CHOICES),
  }),
  llamaServer: setting({
    flag: "--llama-server <path>",
    env: "EDGELLM_LLAMA_SERVER",
    default: undefined,
    defaultText: "the cached `edgellm engine build` or `pull`",
    help: "a llama-server binary to run as the engine",
    doc: "a llama-server binary of your own to run as the engine",
    parse: text,
  }),
  embeddingModel: setting({
    flag: "--embedding-model <model>",
    env: "EDGELLM_EMBEDDING_MODEL",
    default: undefined,
    defaultText: "none (`/v1/embeddings` answers 400)",
    help: "a GGUF file or model ref to serve at /v1/embeddings (an embedding model; a chat model gives pooled vectors); downloaded if missing",
    doc: "a GGUF path or a model ref (as `--model`, downloaded if missing) served at `POST /v1/embeddings`: an embedding model such as Qwen3-Embedding or bge, or any GGUF. See [Embeddings](api.md#embeddings)",
    parse: text,
  }),
  rerankModel: setting({
    flag: "--rerank-model <model>",
    env: "EDGELLM_RERANK_MODEL",
    default: undefined,
    defaultText: "none (`/v1/rerank` answers 400; search ranks by BM25 and vectors)",
    help: "a reranker GGUF file or model ref (e.g. Qwen3-Reranker, bge-reranker) served at /v1/rerank and used by knowledge-base search; downloaded if missing",
    doc: "a GGUF path or a model ref (as `--model`, downloaded if missing) of a reranker (llama-server's `--reranking`: Qwen3-Reranker, bge-reranker, jina-reranker), served at `POST /v1/rerank` and used to reorder knowledge-base search results. See [Reranking](knowledge-base.md#reranking)",
    parse: text,
  }),
  rerankCandidates: setting({
    flag: "--rerank-candidates <n>",
    env: "EDGELLM_RERANK_CANDIDATES",
    default: 10,
    help: "knowledge-base search results the reranker reorders (each costs one evaluation of the chunk)",
    doc: "how many of a knowledge-base search's best results the reranker (`--rerank-model`) scores and reorders; each is one evaluation of the query and the chunk, so this is the search's cost on a CPU",
    parse: int(1, 200),
  }),
  promptCacheRam: setting({
    flag: "--prompt-cache-ram <MiB>",
    env: "EDGELLM_PROMPT_CACHE_RAM",
    default: 1024,
    unit: "MiB",
    help: "room for the KV states of conversations that lost their slot: llama-server's RAM prompt cache, or the in-process engine's saved states (0: off)",
    doc: "MiB for the KV states of conversations that lost their slot, so their next turn is not recomputed: llama-server's host-RAM prompt cache, or with the in-process engine state files in a private temp folder; `0` turns it off",
    parse: int(0),
  }),
  llamaReleases: setting({
    env: "EDGELLM_LLAMA_RELEASES_URL",
    default: "https://api.github.com",
    help: "API base serving /repos/ggml-org/llama.cpp/releases/tags/<tag> for `engine pull` (a mirror of GitHub's)",
    doc: "API base serving `/repos/ggml-org/llama.cpp/releases/tags/<tag>` for `edgellm engine pull` and `serve`'s own pull (a mirror of GitHub's release API)",
    parse: httpUrl,
  }),
};
