/**
 * Whether an upstream serves the model we send it. A misnamed model (`qwen-mx` for `qwen-max`) makes
 * every request fail with a 404 and fall back: the check says so in the log at start and on health
 * checks, instead of only in each response's route reason.
 */

import OpenAI from "openai";
import { z } from "zod";
import type { UpstreamConfig } from "./config.js";
import { linked } from "./signals.js";

/**
 * How long an upstream that answered 404 for its model gets no requests, in ms, unless a model check
 * finds the model sooner: a check may be impossible (no /models), so this is the retry.
 */
const MODEL_MISSING_MS = 60_000;

/** What GET <baseUrl>/models said about the configured model. */
export type ModelCheck =
  /** `contextSize`: the model's context window in tokens, when the list says it. */
  | { state: "listed"; contextSize?: number }
  /** The upstream lists its models and this one is not among them; `listed`: the first few ids. */
  | { state: "missing"; listed: string[] }
  /** No usable model list (some proxies have none): `why` in our words, e.g. "HTTP 404". */
  | { state: "unlisted"; why: string };

/**
 * Model names an edgellm replica answers to without listing them (its local model's aliases), which
 * the docs recommend for a fleet of edgellm replicas: never reported as missing.
 */
const UNLISTED_ALIASES = new Set(["local", "auto"]);

/** How many listed ids a warning quotes. */
const QUOTED_IDS = 5;

/**
 * Asks one base URL for its models, with the upstream's key. Undefined when it could not be asked at
 * all (refused, timed out): that is the health check's business, and the check is tried again later.
 */
export async function checkModel(
  baseUrl: string,
  model: string,
  options: { apiKey?: string; signal: AbortSignal },
): Promise<ModelCheck | undefined> {
  if (UNLISTED_ALIASES.has(model)) return { state: "listed" };
  // Linked by hand, not AbortSignal.any: `options.signal` lives as long as the upstream (signals.ts).
  const signal = linked(options.signal, AbortSignal.timeout(2000));
  let models: ListedModel[];
  try {
    let res: Response;
    try {
      res = await fetch(`${baseUrl.replace(/\/+$/, "")}/models`, {
        signal: signal.signal,
        headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
      });
    } catch {
      return undefined;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      return { state: "unlisted", why: `HTTP ${res.status}` };
    }
    try {
      models = listedModels(await res.json());
    } catch {
      return { state: "unlisted", why: "not a model list" };
    }
  } finally {
    signal.dispose();
  }
  if (models.length === 0) return { state: "unlisted", why: "an empty model list" };
  const found = models.find((m) => m.id === model);
  if (found) return { state: "listed", ...(found.contextSize && { contextSize: found.contextSize }) };
  return { state: "missing", listed: models.slice(0, QUOTED_IDS).map((m) => m.id) };
}

interface ListedModel {
  id: string;
  contextSize?: number;
}

const tokens = z.number().int().min(1).max(100_000_000);

/**
 * Where servers put a model's context window in their model list, most specific first: vLLM
 * `max_model_len`, OpenRouter and Together `context_length`, LM Studio `max_context_length`, llama-server
 * `meta.n_ctx` (what it serves) before `meta.n_ctx_train` (what the model was trained for), edgellm's own
 * `meta.context_size`. Read leniently: a field of another shape is ignored, never an error.
 */
const contextFields = z
  .object({
    max_model_len: tokens.optional().catch(undefined),
    context_length: tokens.optional().catch(undefined),
    max_context_length: tokens.optional().catch(undefined),
    meta: z
      .object({
        n_ctx: tokens.optional().catch(undefined),
        context_size: tokens.optional().catch(undefined),
        n_ctx_train: tokens.optional().catch(undefined),
      })
      .optional()
      .catch(undefined),
  })
  .catch({});

/** The models of an OpenAI model list (`{"data": [{"id": ...}]}`); throws on anything else. */
export function listedModels(body: unknown): ListedModel[] {
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw new TypeError("not a model list");
  return data.flatMap((m) => {
    if (typeof m?.id !== "string") return [];
    const c = contextFields.parse(m);
    const contextSize =
      c.max_model_len ??
      c.context_length ??
      c.max_context_length ??
      c.meta?.n_ctx ??
      c.meta?.context_size ??
      c.meta?.n_ctx_train;
    return [contextSize ? { id: m.id, contextSize } : { id: m.id }];
  });
}

/** The check as a log line about upstream `name` sending `model`; undefined when all is well. */
export function describeModelCheck(name: string, model: string, check: ModelCheck): string | undefined {
  if (check.state === "missing")
    return `upstream '${name}' has no model '${model}' (it lists ${check.listed.map((id) => `'${id}'`).join(", ")}${check.listed.length === QUOTED_IDS ? ", ..." : ""}); requests to it will fall back`;
  if (check.state === "unlisted")
    return `upstream '${name}' does not list its models (GET /models: ${check.why}); model '${model}' is not checked`;
  return undefined;
}

/**
 * One upstream's model, watched: checked at start, on each health check, and once a minute while no
 * replica could be asked; a 404 about the model keeps requests away for MODEL_MISSING_MS, or until a
 * check lists it. Reports a change of verdict, so an upstream without /models is reported once.
 */
export class ModelWatch {
  /** Ends checks in flight on dispose(). */
  private readonly lifetime = new AbortController();
  /** The last verdict; undefined until some replica could be asked. */
  private state?: ModelCheck["state"];
  private lastCheck = 0;
  private missingUntil = 0;
  /** The context window the upstream last reported for the model, in tokens. */
  private reportedContext?: number;
  private running?: Promise<void>;

  constructor(
    private readonly config: Pick<UpstreamConfig, "name" | "model" | "baseUrls" | "apiKey">,
    private readonly onChange?: (check: ModelCheck) => void,
  ) {
    void this.check();
  }

  /** The model's context window as the upstream's model list reports it, in tokens; undefined until it does. */
  get contextSize(): number | undefined {
    return this.reportedContext;
  }

  /** Why requests should not go to the upstream now, in our words; undefined when they may. */
  get problem(): string | undefined {
    if (Date.now() >= this.missingUntil) return undefined;
    return `upstream '${this.config.name}' has no model '${this.config.model}'`;
  }

  /**
   * Asks the replicas in turn until one answers; a list that holds the model lifts a 404's ban. A
   * check already under way is joined, not repeated (two would both report the first verdict).
   */
  check(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<void> {
    this.lastCheck = Date.now();
    const { apiKey, model } = this.config;
    for (const baseUrl of this.config.baseUrls) {
      const check = await checkModel(baseUrl, model, { apiKey, signal: this.lifetime.signal });
      if (!check || this.lifetime.signal.aborted) continue;
      if (check.state === "listed") {
        this.missingUntil = 0;
        this.reportedContext = check.contextSize ?? this.reportedContext;
      }
      if (check.state !== this.state) this.onChange?.(check);
      this.state = check.state;
      return;
    }
  }

  /** No replica could be asked at start, and no health checks ask again: try once a minute. */
  recheckIfUnknown(): void {
    if (this.state === undefined && Date.now() - this.lastCheck > MODEL_MISSING_MS) void this.check();
  }

  /** A failed request: a 404 about the model (the upstream says so, or its list lacked it) bans it. */
  onFailure(error: unknown): void {
    if (!(error instanceof OpenAI.APIError) || error.status !== 404) return;
    if (error.code === "model_not_found" || this.state === "missing")
      this.missingUntil = Date.now() + MODEL_MISSING_MS;
  }

  dispose(): void {
    this.lifetime.abort();
  }
}
