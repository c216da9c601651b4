import { z } from "zod";

/**
 * Request bodies and query strings of OpenAI's Files and Vector Stores APIs (`/v1/files`,
 * `/v1/vector_stores/...`), with OpenAI's documented bounds.
 */

const id = z.string().min(1).max(128);

/** OpenAI's Metadata: 16 string pairs, keys up to 64 characters, values up to 512 (stores, conversations). */
export const metadata = z
  .record(z.string().max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 16, "has more than 16 keys");

export const attributesSchema = z
  .record(z.string().max(64), z.union([z.string().max(512), z.number(), z.boolean()]))
  .refine((m) => Object.keys(m).length <= 16, "has more than 16 keys");

export const chunkingStrategySchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto") }),
  z.object({
    type: z.literal("static"),
    static: z
      .object({
        max_chunk_size_tokens: z.number().int().min(100).max(4096),
        chunk_overlap_tokens: z.number().int().min(0),
      })
      .refine((s) => s.chunk_overlap_tokens <= s.max_chunk_size_tokens / 2, {
        message: "chunk_overlap_tokens must not exceed half of max_chunk_size_tokens",
        path: ["chunk_overlap_tokens"],
      }),
  }),
]);
export type ChunkingStrategyBody = z.infer<typeof chunkingStrategySchema>;

const expiresAfter = z.object({
  anchor: z.literal("last_active_at"),
  days: z.number().int().min(1).max(365),
});

/** Filters nest, so their depth is checked first (`filterDepth`), before zod recurses into them. */
export const MAX_FILTER_DEPTH = 8;

const scalar = z.union([z.string().max(512), z.number(), z.boolean()]);
type FilterBody =
  | { type: "eq" | "ne" | "gt" | "gte" | "lt" | "lte"; key: string; value: string | number | boolean }
  | { type: "in" | "nin"; key: string; value: (string | number | boolean)[] }
  | { type: "and" | "or"; filters: FilterBody[] };
export const filterSchema: z.ZodType<FilterBody> = z.lazy(() =>
  z.union([
    z.object({
      type: z.enum(["eq", "ne", "gt", "gte", "lt", "lte"]),
      key: z.string().min(1).max(64),
      value: scalar,
    }),
    z.object({
      type: z.enum(["in", "nin"]),
      key: z.string().min(1).max(64),
      value: z.array(scalar).max(100),
    }),
    z.object({ type: z.enum(["and", "or"]), filters: z.array(filterSchema).min(1).max(32) }),
  ]),
);

/** How deep a value nests, counted without recursion (so a body nested a million deep cannot overflow). */
export function nestingDepth(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== "object" || v === null) continue;
    if (depth > max) max = depth;
    if (max > 64) return max;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return max;
}

export const createStoreSchema = z.object({
  name: z.string().max(256).nullable().optional(),
  description: z.string().max(512).nullable().optional(),
  file_ids: z.array(id).max(10_000).nullable().optional(),
  chunking_strategy: chunkingStrategySchema.nullable().optional(),
  metadata: metadata.nullable().optional(),
  expires_after: expiresAfter.nullable().optional(),
});

export const updateStoreSchema = z.object({
  name: z.string().max(256).nullable().optional(),
  metadata: metadata.nullable().optional(),
  expires_after: expiresAfter.nullable().optional(),
});

export const addFileSchema = z.object({
  file_id: id,
  attributes: attributesSchema.nullable().optional(),
  chunking_strategy: chunkingStrategySchema.nullable().optional(),
});

export const updateFileSchema = z.object({ attributes: attributesSchema.nullable() });

export const createBatchSchema = z
  .object({
    file_ids: z.array(id).max(10_000).nullable().optional(),
    files: z
      .array(
        z.object({
          file_id: id,
          attributes: attributesSchema.nullable().optional(),
          chunking_strategy: chunkingStrategySchema.nullable().optional(),
        }),
      )
      .max(10_000)
      .nullable()
      .optional(),
    attributes: attributesSchema.nullable().optional(),
    chunking_strategy: chunkingStrategySchema.nullable().optional(),
  })
  .refine((b) => (b.file_ids == null) !== (b.files == null), {
    message: "give exactly one of file_ids and files",
    path: ["file_ids"],
  });

/** The longest query searched, in characters: a question, or a paragraph of one. */
export const MAX_QUERY_CHARS = 4096;

const query = z
  .string()
  .max(MAX_QUERY_CHARS, `is longer than ${MAX_QUERY_CHARS} characters`)
  .refine((q) => q.trim() !== "", "is empty");

export const rankingOptionsSchema = z.object({
  // OpenAI's rankers (and the Assistants API's), all meaning "the reranker when there is one"; "none" skips it.
  ranker: z.enum(["auto", "default-2024-11-15", "default_2024_08_21", "none"]).optional(),
  score_threshold: z.number().min(0).max(1).optional(),
  hybrid_search: z.object({ embedding_weight: z.number().min(0), text_weight: z.number().min(0) }).optional(),
});

export const searchSchema = z.object({
  query: z.union([query, z.array(query).min(1).max(8)]),
  max_num_results: z.number().int().min(1).max(50).optional(),
  filters: filterSchema.nullable().optional(),
  ranking_options: rankingOptionsSchema.nullable().optional(),
  rewrite_query: z.boolean().nullable().optional(),
});

export const listQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).optional(),
  order: z.enum(["asc", "desc"]).optional(),
  after: z.string().max(128).optional(),
  before: z.string().max(128).optional(),
  filter: z.enum(["in_progress", "completed", "failed", "cancelled"]).optional(),
  purpose: z.string().max(64).optional(),
});

export const FILE_PURPOSES = ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"] as const;
