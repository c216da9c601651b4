import { f32ToF16 } from "../../src/models/gguf-writer.js";

/**
 * ggml's tensor data codecs (F32, F16, Q8_0, Q4_0), bit-compatible with its reference quantizers: the
 * writer's tests write tensors with them and read them back through llama.cpp. The synthetic model
 * (src/models/synth.ts) writes its blocks itself.
 */

/** The number a half-precision bit pattern stands for. */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** F32 tensor data. */
export function encodeF32(values: ArrayLike<number>): Uint8Array {
  const out = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i], i * 4);
  return out;
}

/** F16 tensor data. */
export function encodeF16(values: ArrayLike<number>): Uint8Array {
  const out = Buffer.alloc(values.length * 2);
  for (let i = 0; i < values.length; i++) out.writeUInt16LE(f32ToF16(values[i]), i * 2);
  return out;
}

function checkBlocks(n: number): void {
  if (n % 32 !== 0) throw new RangeError(`quantized data needs a multiple of 32 values, got ${n}`);
}

/** Q8_0 blocks as ggml's quantize_row_q8_0_ref: f16 d = max|x|/127, then 32 int8 q = round(x/d). */
export function quantizeQ8_0(values: ArrayLike<number>): Uint8Array {
  checkBlocks(values.length);
  const out = Buffer.alloc((values.length / 32) * 34);
  for (let b = 0, o = 0; b < values.length; b += 32, o += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[b + j]));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    out.writeUInt16LE(f32ToF16(d), o);
    for (let j = 0; j < 32; j++) {
      // roundf rounds halves away from zero; Math.round would round -0.5 up.
      const x = Math.fround(values[b + j] * id);
      out.writeInt8(Math.sign(x) * Math.round(Math.abs(x)), o + 2 + j);
    }
  }
  return out;
}

/**
 * Q4_0 blocks as ggml's quantize_row_q4_0_ref: d = (signed value of largest magnitude) / -8 in f16,
 * nibble = min(15, trunc(x/d + 8.5)); byte j holds element j in its low nibble and j+16 in its high one.
 */
export function quantizeQ4_0(values: ArrayLike<number>): Uint8Array {
  checkBlocks(values.length);
  const out = Buffer.alloc((values.length / 32) * 18);
  for (let b = 0, o = 0; b < values.length; b += 32, o += 18) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = values[b + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    out.writeUInt16LE(f32ToF16(d), o);
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, Math.trunc(Math.fround(values[b + j] * id) + 8.5));
      const hi = Math.min(15, Math.trunc(Math.fround(values[b + 16 + j] * id) + 8.5));
      out[o + 2 + j] = lo | (hi << 4);
    }
  }
  return out;
}

/** Values of Q8_0 blocks: q * d. */
export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array((bytes.byteLength / 34) * 32);
  for (let o = 0, i = 0; o < bytes.byteLength; o += 34) {
    const d = f16ToF32(view.readUInt16LE(o));
    for (let j = 0; j < 32; j++) out[i++] = view.readInt8(o + 2 + j) * d;
  }
  return out;
}

/** Values of Q4_0 blocks: (nibble - 8) * d, low nibbles first (elements 0..15), then high (16..31). */
export function dequantizeQ4_0(bytes: Uint8Array): Float32Array {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array((bytes.byteLength / 18) * 32);
  for (let o = 0, i = 0; o < bytes.byteLength; o += 18, i += 32) {
    const d = f16ToF32(view.readUInt16LE(o));
    for (let j = 0; j < 16; j++) {
      const q = view[o + 2 + j];
      out[i + j] = ((q & 0x0f) - 8) * d;
      out[i + 16 + j] = ((q >> 4) - 8) * d;
    }
  }
  return out;
}
