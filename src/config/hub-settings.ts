import { bool, httpUrl, int, type Setting, setting, text } from "./setting.js";

/** Where models and keys live and how models are downloaded: read by every command, set by variables only. */
export const HUB_SETTINGS = {
  home: setting({
    env: "EDGELLM_HOME",
    default: undefined,
    defaultText: "`~/.edgellm`",
    help: "data folder: models in $EDGELLM_HOME/models, a generated API key in $EDGELLM_HOME/api-key",
    doc: "data folder; models live in `$EDGELLM_HOME/models/<owner>/<repo>/<file>.gguf`, llama-server binaries in `$EDGELLM_HOME/engines/llama-server/<tag>-<os>-<arch>[-portable\\|-native]/`, a generated API key in `$EDGELLM_HOME/api-key`",
    parse: text,
  }),
  offline: setting({
    env: "EDGELLM_OFFLINE",
    default: false,
    help: "never touch the network; a model that is not cached is an error",
    doc: "`1`: never touch the network",
    parse: bool,
  }),
  hubConnectTimeout: setting({
    env: "EDGELLM_CONNECT_TIMEOUT_MS",
    default: 10_000,
    unit: "ms",
    help: "time to connect to a hub and get its response headers before it counts as unreachable",
    doc: "milliseconds to connect to a model hub and get its response headers before it counts as unreachable",
    parse: int(1),
  }),
  hfEndpoint: setting({
    env: "HF_ENDPOINT",
    default: "https://huggingface.co",
    help: "a Hugging Face mirror, e.g. https://hf-mirror.com",
    doc: "a Hugging Face mirror, e.g. `https://hf-mirror.com`",
    parse: httpUrl,
  }),
  modelscopeEndpoint: setting({
    env: "MODELSCOPE_ENDPOINT",
    default: "https://modelscope.cn",
    help: "ModelScope base URL",
    parse: httpUrl,
  }),
  hfToken: setting({
    secret: true,
    env: "HF_TOKEN",
    default: undefined,
    help: "token for gated or private Hugging Face repos",
    parse: text,
  }),
  openaiApiKey: setting({
    secret: true,
    env: "OPENAI_API_KEY",
    default: undefined,
    help: "`edgellm chat --url`: the key sent when EDGELLM_API_KEY is not set",
    doc: "`edgellm chat --url`: the key it sends when `EDGELLM_API_KEY` is not set",
    parse: text,
  }),
} satisfies Record<string, Setting<unknown>>;
