import { modelAliasList } from "./model-aliases.js";
import { bool, number, ParseError, type Parser, type Setting, setting, text, whole } from "./setting.js";

/** Seconds above 0, fractions allowed, as the upstream timeouts take them. */
const seconds: Parser<number> = (value) => {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0 || n > 86_400)
    throw new ParseError("a number of seconds above 0 (up to 86400)");
  return n;
};

/**
 * The settings of hybrid routing (docs/routing.md). Those with `file` may also come from the `--config` file;
 * src/router/config.ts applies file and default under what a flag or variable gave. Per-upstream variables
 * (`EDGELLM_UPSTREAM_<NAME>_*`) have names made from the upstream's, so router/config.ts reads them itself.
 */
export const ROUTING_SETTINGS = {
  upstream: setting({
    flag: "--upstream <name=url[,url...]>",
    envDoc: "`EDGELLM_UPSTREAM_<NAME>_BASE_URL`, `_API_KEY`, `_MODEL`",
    repeatable: true,
    default: [] as string[],
    help: "an OpenAI-compatible upstream for `model: name` and `auto`; key in EDGELLM_UPSTREAM_<NAME>_API_KEY (repeatable)",
    doc: "an OpenAI-compatible upstream (repeatable); see [routing.md](routing.md)",
    parse: whole,
  }),
  config: setting({
    flag: "--config <file>",
    env: "EDGELLM_CONFIG",
    default: undefined,
    help: "JSON routing config: upstreams, policy, budget (docs/routing.md)",
    doc: "JSON routing configuration: upstreams, policy threshold, budget, redaction, cascade",
    parse: text,
  }),
  cloud: setting({
    flag: "--no-cloud",
    env: "EDGELLM_NO_CLOUD",
    // The variable keeps its long-documented name, so it says the opposite of the setting.
    envInverted: true,
    negated: true,
    file: "cloud",
    default: true,
    help: "never send a request to an upstream",
    parse: bool,
  }),
  upstreamConnectTimeout: setting({
    flag: "--upstream-connect-timeout <seconds>",
    env: "EDGELLM_UPSTREAM_CONNECT_TIMEOUT",
    file: "upstreamDefaults.connectTimeoutMs",
    // A TCP and TLS handshake takes well under 1 s even across continents, and 3 s still covers one lost
    // SYN (Linux resends it after 1 s).
    default: 3,
    unit: "seconds",
    help: "longest wait for a connection to an upstream",
    doc: "seconds to open a connection to an upstream (an upstream's own `connectTimeoutMs` wins)",
    parse: seconds,
  }),
  upstreamFirstByteTimeout: setting({
    flag: "--upstream-first-byte-timeout <seconds>",
    env: "EDGELLM_UPSTREAM_FIRST_BYTE_TIMEOUT",
    file: "upstreamDefaults.firstByteTimeoutMs",
    // A hosted model's first token on a short prompt typically comes in under 2 s (providers' published
    // figures, not measured here); 10 s leaves room for queueing and a longer prompt while the local
    // fallback can still start soon. Long-context or reasoning upstreams need more: set it per upstream.
    default: 10,
    unit: "seconds",
    help: "longest wait for an upstream's first token before falling back to local",
    doc: "seconds to an upstream's first token, retries included, before falling back to local (an upstream's own `firstByteTimeoutMs` wins; raise it for long prompts and reasoning models)",
    parse: seconds,
  }),
  upstreamIdleTimeout: setting({
    flag: "--upstream-idle-timeout <seconds>",
    env: "EDGELLM_UPSTREAM_IDLE_TIMEOUT",
    file: "upstreamDefaults.idleTimeoutMs",
    // A streaming model sends several chunks a second.
    default: 30,
    unit: "seconds",
    help: "longest silence of an upstream mid-answer before the stream ends with an error",
    doc: "seconds an upstream may stay silent mid-answer before the stream ends with an error event",
    parse: seconds,
  }),
  defaultModel: setting({
    env: "EDGELLM_DEFAULT_MODEL",
    file: "defaultModel",
    default: "local",
    help: 'the route of requests that name no model: "local", "auto" or an upstream',
    doc: "the route of requests that name no model: `local`, `auto` or an upstream's name",
    parse: text,
  }),
  modelAlias: setting({
    flag: "--model-alias <from=to>",
    env: "EDGELLM_MODEL_ALIAS",
    file: "modelAliases",
    repeatable: true,
    default: [] as [string, string][],
    help: "serve model name FROM as TO (local, auto, an upstream or the local model's id), e.g. gpt-4o=local (repeatable)",
    doc: "another name for a served model, so clients' default names work unchanged: `gpt-4o=local`, `gpt-4o-mini=auto`, `gpt-4=cloud` (repeatable; comma-separated in the variable; the config file's `modelAliases` object too). `/v1/models` lists each alias with `meta.alias_of`; responses name the model that answered",
    parse: modelAliasList,
  }),
  routeThreshold: setting({
    env: "EDGELLM_ROUTE_THRESHOLD",
    file: "auto.threshold",
    // The threshold with the best 5-fold cross-validated accuracy on data/routing/train.jsonl (checked by
    // test/router/policy.test.ts); docs/routing.md has the accuracy / cloud-share table for others.
    default: 0.5,
    help: 'difficulty (0 to 1) at or above which "auto" sends a request to the cloud; lower sends more',
    doc: "difficulty (0 to 1, the policy's probability that the ask is too hard for the local model) at or above which `auto` sends a request to the cloud; see the table in [routing.md](routing.md#the-policy-srcrouterpolicyts)",
    parse: number(0, 1),
  }),
  cascade: setting({
    env: "EDGELLM_CASCADE",
    file: "cascade.enabled",
    default: false,
    help: "answer locally first and escalate low-confidence answers",
    parse: bool,
  }),
  redact: setting({
    env: "EDGELLM_REDACT",
    file: "redact",
    default: false,
    help: "mask e-mail addresses, phone and ID numbers before a request leaves the machine",
    parse: bool,
  }),
  cloudDailyBudget: setting({
    env: "EDGELLM_CLOUD_DAILY_BUDGET",
    file: "budget.daily",
    default: undefined,
    defaultText: "none",
    help: "daily cloud spend, in the prices' currency, after which requests stay local",
    parse: number(0),
  }),
} satisfies Record<string, Setting<unknown>>;
