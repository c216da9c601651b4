/**
 * A small GGUF v3 writer: typed metadata, tensor infos and tensor data, streamed to disk tensor by
 * tensor so a model of hundreds of MB never sits in one buffer, and ggml's float16 conversion, which the
 * synthetic model's block scales need (test/helpers/ggml-codecs.ts has the block codecs the tests use).
 *
 * File layout (all little-endian): magic "GGUF", version, tensor count, KV count, the KV pairs, the
 * tensor infos, zero padding to `general.alignment`, then each tensor's data at an aligned offset.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, rename, rm } from "node:fs/promises";

const GGUF_VERSION = 3;
/** llama.cpp assumes 32 when `general.alignment` is absent; we always write the key anyway. */
const GGUF_DEFAULT_ALIGNMENT = 32;
const GGUF_MAGIC = Buffer.from("GGUF", "latin1");
/** ggml's GGML_MAX_NAME is 64 including the terminating NUL. */
const MAX_TENSOR_NAME_BYTES = 63;
/** ggml's GGML_MAX_DIMS. */
const MAX_DIMS = 4;

/** The ggml tensor types this writer lays out; values are ggml's `enum ggml_type`. */
export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

/** Elements per block and bytes per block, as in ggml's type traits. */
const LAYOUT: Record<GgmlType, { blockSize: number; typeSize: number }> = {
  [GgmlType.F32]: { blockSize: 1, typeSize: 4 },
  [GgmlType.F16]: { blockSize: 1, typeSize: 2 },
  [GgmlType.Q4_0]: { blockSize: 32, typeSize: 2 + 16 },
  [GgmlType.Q8_0]: { blockSize: 32, typeSize: 2 + 32 },
};

/** Number of elements of a tensor with this shape. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Bytes of tensor data for a type and shape (ggml order: shape[0] is the row length). */
function tensorByteSize(type: GgmlType, shape: readonly number[]): number {
  const { blockSize, typeSize } = LAYOUT[type];
  return (elementCount(shape) / blockSize) * typeSize;
}

// ---- metadata values -------------------------------------------------------------------------

type NumberKind = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";
type BigKind = "u64" | "i64";
export type GgufScalarKind = NumberKind | BigKind | "bool" | "string";

/** One metadata value with its GGUF type; build them with {@link kv}. */
export type GgufValue =
  | { kind: NumberKind; value: number }
  | { kind: BigKind; value: bigint }
  | { kind: "bool"; value: boolean }
  | { kind: "string"; value: string }
  | { kind: "array"; of: NumberKind; value: ArrayLike<number> }
  | { kind: "array"; of: BigKind; value: readonly bigint[] }
  | { kind: "array"; of: "bool"; value: readonly boolean[] }
  | { kind: "array"; of: "string"; value: readonly string[] };

/** `enum gguf_type`. */
const VALUE_TYPE: Record<GgufScalarKind | "array", number> = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
};

function arrayOf(of: NumberKind, value: ArrayLike<number>): GgufValue;
function arrayOf(of: BigKind, value: readonly bigint[]): GgufValue;
function arrayOf(of: "bool", value: readonly boolean[]): GgufValue;
function arrayOf(of: "string", value: readonly string[]): GgufValue;
function arrayOf(of: GgufScalarKind, value: ArrayLike<unknown>): GgufValue {
  return { kind: "array", of, value } as GgufValue;
}

/** Constructors for typed metadata values, e.g. `kv.u32(24)`, `kv.array("string", tokens)`. */
export const kv = {
  u8: (value: number): GgufValue => ({ kind: "u8", value }),
  i8: (value: number): GgufValue => ({ kind: "i8", value }),
  u16: (value: number): GgufValue => ({ kind: "u16", value }),
  i16: (value: number): GgufValue => ({ kind: "i16", value }),
  u32: (value: number): GgufValue => ({ kind: "u32", value }),
  i32: (value: number): GgufValue => ({ kind: "i32", value }),
  u64: (value: bigint | number): GgufValue => ({ kind: "u64", value: BigInt(value) }),
  i64: (value: bigint | number): GgufValue => ({ kind: "i64", value: BigInt(value) }),
  f32: (value: number): GgufValue => ({ kind: "f32", value }),
  f64: (value: number): GgufValue => ({ kind: "f64", value }),
  bool: (value: boolean): GgufValue => ({ kind: "bool", value }),
  string: (value: string): GgufValue => ({ kind: "string", value }),
  array: arrayOf,
};

/** A growable little-endian byte buffer for the header (a few MB with a 150k-token vocabulary). */
class ByteBuilder {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  /** Buffer's write*LE methods range-check their argument, so an out-of-range value throws RangeError. */
  scalar(kind: Exclude<GgufScalarKind, "string">, value: number | bigint | boolean): void {
    const size = { u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8 }[
      kind
    ];
    this.reserve(size);
    const b = this.buf;
    const at = this.length;
    switch (kind) {
      case "u8":
        b.writeUInt8(value as number, at);
        break;
      case "i8":
        b.writeInt8(value as number, at);
        break;
      case "bool":
        b.writeUInt8(value ? 1 : 0, at);
        break;
      case "u16":
        b.writeUInt16LE(value as number, at);
        break;
      case "i16":
        b.writeInt16LE(value as number, at);
        break;
      case "u32":
        b.writeUInt32LE(value as number, at);
        break;
      case "i32":
        b.writeInt32LE(value as number, at);
        break;
      case "f32":
        b.writeFloatLE(value as number, at);
        break;
      case "u64":
        b.writeBigUInt64LE(BigInt(value as number | bigint), at);
        break;
      case "i64":
        b.writeBigInt64LE(BigInt(value as number | bigint), at);
        break;
      case "f64":
        b.writeDoubleLE(value as number, at);
        break;
    }
    this.length += size;
  }

  /** GGUF strings are a u64 byte length followed by UTF-8 bytes, no terminator. */
  string(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    this.scalar("u64", BigInt(n));
    this.reserve(n);
    this.buf.write(s, this.length, n, "utf8");
    this.length += n;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  value(v: GgufValue): void {
    if (v.kind === "string") this.string(v.value);
    else if (v.kind !== "array") this.scalar(v.kind, v.value);
    else {
      this.scalar("u32", VALUE_TYPE[v.of]);
      this.scalar("u64", BigInt(v.value.length));
      if (v.of === "string") for (const s of v.value as readonly string[]) this.string(s);
      else {
        const of = v.of;
        const items = v.value as ArrayLike<number | bigint | boolean>;
        for (let i = 0; i < items.length; i++) this.scalar(of, items[i]);
      }
    }
  }

  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

// ---- tensors --------------------------------------------------------------------------------

/**
 * Tensor bytes: all at once, or a function returning chunks that are streamed to disk in order.
 * The writer is done with a chunk before it asks for the next, so a generator may reuse one buffer.
 */
export type TensorData = Uint8Array | (() => Iterable<Uint8Array> | AsyncIterable<Uint8Array>);

export interface GgufTensor {
  /** e.g. `blk.0.attn_q.weight`; at most 63 UTF-8 bytes. */
  name: string;
  /** Dimensions in ggml order (ggml's `ne`): `shape[0]` is the innermost, contiguous row length. */
  shape: readonly number[];
  type: GgmlType;
  /** Exactly {@link tensorByteSize}(type, shape) bytes in ggml's layout for `type`. */
  data: TensorData;
}

export interface GgufWriterOptions {
  /** Alignment of the tensor data section and of every tensor in it, in bytes. Default 32. */
  alignment?: number;
}

/** What {@link GgufWriter.write} produced. */
export interface GgufWriteResult {
  /** Total file size in bytes. */
  bytes: number;
  /** Byte offset of the tensor data section (end of header, KV, tensor infos and padding). */
  dataOffset: number;
}

/** Collects metadata and tensors, then streams one GGUF v3 file with {@link GgufWriter.write}. */
export class GgufWriter {
  readonly alignment: number;
  private readonly metadata = new Map<string, GgufValue>();
  private readonly tensors: GgufTensor[] = [];
  private readonly tensorNames = new Set<string>();

  constructor(options: GgufWriterOptions = {}) {
    const alignment = options.alignment ?? GGUF_DEFAULT_ALIGNMENT;
    if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
      throw new RangeError(`GGUF alignment must be a power of two, got ${alignment}`);
    }
    this.alignment = alignment;
  }

  /** Adds one metadata pair; keys are unique, and `general.alignment` is written for you. */
  set(key: string, value: GgufValue): this {
    if (this.metadata.has(key)) throw new Error(`duplicate GGUF metadata key "${key}"`);
    if (key === "general.alignment")
      throw new Error("general.alignment comes from the writer's alignment option");
    this.metadata.set(key, value);
    return this;
  }

  addTensor(tensor: GgufTensor): this {
    const { name, shape, type } = tensor;
    if (Buffer.byteLength(name, "utf8") > MAX_TENSOR_NAME_BYTES) {
      throw new RangeError(`tensor name "${name}" is longer than ${MAX_TENSOR_NAME_BYTES} bytes`);
    }
    if (this.tensorNames.has(name)) throw new Error(`duplicate tensor "${name}"`);
    if (!(type in LAYOUT)) throw new RangeError(`tensor "${name}": unsupported ggml type ${type}`);
    if (
      shape.length < 1 ||
      shape.length > MAX_DIMS ||
      !shape.every((d) => Number.isSafeInteger(d) && d > 0)
    ) {
      throw new RangeError(`tensor "${name}": shape must be 1 to ${MAX_DIMS} positive integers`);
    }
    // Quantized blocks never straddle rows in ggml.
    const { blockSize } = LAYOUT[type];
    if (shape[0] % blockSize !== 0) {
      throw new RangeError(`tensor "${name}": row length ${shape[0]} is not a multiple of ${blockSize}`);
    }
    if (tensor.data instanceof Uint8Array && tensor.data.byteLength !== tensorByteSize(type, shape)) {
      throw new RangeError(
        `tensor "${name}": ${tensor.data.byteLength} bytes given, ${tensorByteSize(type, shape)} expected`,
      );
    }
    this.tensorNames.add(name);
    this.tensors.push(tensor);
    return this;
  }

  /** Serializes header, metadata and tensor infos (everything before the data section padding). */
  header(): Buffer {
    const b = new ByteBuilder();
    b.bytes(GGUF_MAGIC);
    b.scalar("u32", GGUF_VERSION);
    b.scalar("u64", BigInt(this.tensors.length));
    b.scalar("u64", BigInt(this.metadata.size + 1));
    b.string("general.alignment");
    b.scalar("u32", VALUE_TYPE.u32);
    b.scalar("u32", this.alignment);
    for (const [key, value] of this.metadata) {
      b.string(key);
      b.scalar("u32", VALUE_TYPE[value.kind]);
      try {
        b.value(value);
      } catch (error) {
        throw new RangeError(`GGUF metadata "${key}": ${(error as Error).message}`, { cause: error });
      }
    }
    let offset = 0;
    for (const t of this.tensors) {
      b.string(t.name);
      b.scalar("u32", t.shape.length);
      for (const d of t.shape) b.scalar("u64", BigInt(d));
      b.scalar("u32", t.type);
      b.scalar("u64", BigInt(offset));
      offset = alignUp(offset + tensorByteSize(t.type, t.shape), this.alignment);
    }
    return b.result();
  }

  /**
   * Writes the file. Data goes to a temporary sibling that is renamed into place at the end, so `path`
   * is either absent, the previous file, or complete: never half-written.
   */
  async write(path: string): Promise<GgufWriteResult> {
    const header = this.header();
    const tmp = `${path}.${process.pid}-${randomBytes(4).toString("hex")}.partial`;
    const handle = await open(tmp, "w");
    const sink = new FileSink(handle);
    let closed = false;
    try {
      await sink.write(header);
      await sink.pad(this.alignment);
      const dataOffset = sink.position;
      for (const t of this.tensors) await this.writeTensor(sink, t);
      await sink.flush();
      closed = true;
      await handle.close();
      await rename(tmp, path);
      return { bytes: sink.position, dataOffset };
    } catch (error) {
      if (!closed) await handle.close().catch(() => {});
      await rm(tmp, { force: true });
      throw error;
    }
  }

  private async writeTensor(sink: FileSink, t: GgufTensor): Promise<void> {
    const expected = tensorByteSize(t.type, t.shape);
    let written = 0;
    const chunks = t.data instanceof Uint8Array ? [t.data] : t.data();
    for await (const chunk of chunks) {
      written += chunk.byteLength;
      if (written > expected) break;
      await sink.write(chunk);
    }
    if (written !== expected) {
      throw new RangeError(`tensor "${t.name}": data source gave ${written}+ bytes, ${expected} expected`);
    }
    await sink.pad(this.alignment);
  }
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Batches small writes into one buffer; large chunks go straight to the file. */
class FileSink {
  private readonly buf = Buffer.alloc(4 << 20);
  private used = 0;
  position = 0;

  constructor(private readonly handle: FileHandle) {}

  async write(chunk: Uint8Array): Promise<void> {
    this.position += chunk.byteLength;
    if (this.used + chunk.byteLength <= this.buf.length) {
      this.buf.set(chunk, this.used);
      this.used += chunk.byteLength;
      return;
    }
    await this.flush();
    if (chunk.byteLength <= this.buf.length) {
      this.buf.set(chunk, 0);
      this.used = chunk.byteLength;
    } else {
      await writeAll(this.handle, chunk);
    }
  }

  async pad(alignment: number): Promise<void> {
    const n = alignUp(this.position, alignment) - this.position;
    if (n > 0) await this.write(new Uint8Array(n));
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    await writeAll(this.handle, this.buf.subarray(0, this.used));
    this.used = 0;
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.byteLength; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}

// ---- f16 -------------------------------------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half-precision bits of `value` (via float32, round to nearest even, like ggml's conversion). */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: shift the mantissa (with its implicit bit) right, rounding to nearest even.
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let half = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) !== 0)) half++;
    return sign | half;
  }
  // A carry out of the mantissa correctly bumps the exponent (and overflows to infinity).
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) !== 0)) half++;
  return sign | half;
}
