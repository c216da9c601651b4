/**
 * Where in a request a problem lies, in our own names (GenerateRequest's), never OpenAI's: the layers
 * behind api/ know no wire format. api/errors.ts maps each field to the wire's `param`, which differs by
 * endpoint (the prompt is `messages` on chat completions, `prompt` on /v1/completions).
 */

/** A JSON schema in the request: the answer's (`format.schema`) or tool number i's arguments. */
export type SchemaField = "format.schema" | `tools.${number}.parameters`;

export type Field =
  /** The model name. */
  | "model"
  /** The chat messages or the text prompt. */
  | "prompt"
  /** The texts or token lists to embed. */
  | "input"
  /** What the reranker scores the documents against. */
  | "query"
  /** The texts the reranker scores. */
  | "documents"
  /** The completion token cap. */
  | "maxTokens"
  /** The tools as a whole. */
  | "tools"
  /** The token biases. */
  | "logitBias"
  | SchemaField;

/** A field, or a place inside a schema field: `format.schema.properties.a.pattern`. */
export type FieldPath = Field | `${SchemaField}.${string}`;

/**
 * An error message that names fields through `name`, so that each layer words it in its own names: core
 * code reads our field ids, a client the wire's parameter names.
 */
export type Wording = (name: (field: FieldPath) => string) => string;
