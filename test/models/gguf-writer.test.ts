import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { readGgufFileInfo } from "node-llama-cpp";
import { f32ToF16, GgmlType, GgufWriter, kv } from "../../src/models/gguf-writer.js";
import {
  dequantizeQ4_0,
  dequantizeQ8_0,
  encodeF16,
  encodeF32,
  f16ToF32,
  quantizeQ4_0,
  quantizeQ8_0,
} from "../helpers/ggml-codecs.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgellm-gguf-writer-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Deterministic values with both signs and varied magnitudes. */
function sampleValues(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)) * 0.01);
}

test("header, metadata of every type and tensor infos read back through node-llama-cpp", async () => {
  const f32 = encodeF32([1, 2, 3]);
  const f16 = encodeF16(sampleValues(64));
  const q8 = quantizeQ8_0(sampleValues(64));
  const q4 = quantizeQ4_0(sampleValues(32 * 3));
  const w = new GgufWriter()
    .set("general.architecture", kv.string("llama"))
    .set("t.u8", kv.u8(255))
    .set("t.i8", kv.i8(-128))
    .set("t.u16", kv.u16(65535))
    .set("t.i16", kv.i16(-32768))
    .set("t.u32", kv.u32(4294967295))
    .set("t.i32", kv.i32(-2147483648))
    .set("t.u64", kv.u64(2n ** 63n + 5n))
    .set("t.i64", kv.i64(-(2n ** 40n)))
    .set("t.f32", kv.f32(0.5))
    .set("t.f64", kv.f64(0.1))
    .set("t.bool", kv.bool(true))
    .set("t.string", kv.string("héllo 你好 🦙"))
    .set("t.strings", kv.array("string", ["a", "", "Ġb"]))
    .set("t.ints", kv.array("i32", Int32Array.of(1, -2, 3)))
    .set("t.floats", kv.array("f32", [0.25, -1]))
    .set("t.bools", kv.array("bool", [true, false]))
    .addTensor({ name: "a", shape: [3], type: GgmlType.F32, data: f32 })
    .addTensor({ name: "b", shape: [32, 2], type: GgmlType.F16, data: f16 })
    .addTensor({ name: "c", shape: [64], type: GgmlType.Q8_0, data: q8 })
    .addTensor({ name: "d", shape: [32, 3, 1], type: GgmlType.Q4_0, data: q4 });
  const path = join(dir, "all-types.gguf");
  const { bytes, dataOffset } = await w.write(path);

  const raw = await readFile(path);
  assert.equal(raw.length, bytes);
  assert.equal(raw.toString("latin1", 0, 4), "GGUF");
  assert.equal(raw.readUInt32LE(4), 3);
  assert.equal(raw.readBigUInt64LE(8), 4n);
  assert.equal(raw.readBigUInt64LE(16), 18n); // 17 keys + general.alignment
  assert.equal(dataOffset % 32, 0);
  assert.equal(bytes % 32, 0);

  const info = await readGgufFileInfo(path, { logWarnings: false });
  assert.equal(info.version, 3);
  assert.equal(Number(info.tensorCount), 4);
  assert.equal(info.infoEndOffset, dataOffset);
  const md = info.metadata as unknown as { general: Record<string, unknown>; t: Record<string, unknown> };
  assert.equal(md.general.alignment, 32);
  assert.deepEqual(md.t, {
    u8: 255,
    i8: -128,
    u16: 65535,
    i16: -32768,
    u32: 4294967295,
    i32: -2147483648,
    u64: 2n ** 63n + 5n,
    i64: -(2n ** 40n),
    f32: 0.5,
    f64: 0.1,
    bool: true,
    string: "héllo 你好 🦙",
    strings: ["a", "", "Ġb"],
    ints: [1, -2, 3],
    floats: [0.25, -1],
    bools: [true, false],
  });

  const infos = info.tensorInfo ?? [];
  assert.deepEqual(
    infos.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType]),
    [
      ["a", [3], 0],
      ["b", [32, 2], 1],
      ["c", [64], 8],
      ["d", [32, 3, 1], 2],
    ],
  );
  for (const [i, data] of [f32, f16, q8, q4].entries()) {
    const at = Number(infos[i].fileOffset);
    assert.equal(Number(infos[i].offset) % 32, 0, `tensor ${i} offset is aligned`);
    assert.deepEqual(raw.subarray(at, at + data.length), Buffer.from(data), `tensor ${i} data`);
  }
});

test("a custom alignment is written as general.alignment and applied to every tensor", async () => {
  const w = new GgufWriter({ alignment: 128 })
    .addTensor({ name: "x", shape: [5], type: GgmlType.F32, data: encodeF32([1, 2, 3, 4, 5]) })
    .addTensor({ name: "y", shape: [3], type: GgmlType.F16, data: encodeF16([1, 2, 3]) });
  const path = join(dir, "aligned.gguf");
  const { dataOffset, bytes } = await w.write(path);
  assert.equal(dataOffset % 128, 0);
  assert.equal(bytes % 128, 0);
  const info = await readGgufFileInfo(path, { logWarnings: false });
  assert.equal((info.metadata as unknown as { general: { alignment: number } }).general.alignment, 128);
  assert.deepEqual(
    info.tensorInfo?.map((t) => Number(t.offset)),
    [0, 128],
  );
  assert.throws(() => new GgufWriter({ alignment: 48 }), RangeError);
});

test("streamed chunks produce the same file as one buffer", async () => {
  const data = quantizeQ8_0(sampleValues(32 * 100));
  const whole = new GgufWriter().addTensor({ name: "w", shape: [32, 100], type: GgmlType.Q8_0, data });
  const streamed = new GgufWriter().addTensor({
    name: "w",
    shape: [32, 100],
    type: GgmlType.Q8_0,
    // One reused buffer, as the synthetic model generator does.
    *data() {
      const buf = new Uint8Array(34 * 7);
      for (let o = 0; o < data.length; o += buf.length) {
        const n = Math.min(buf.length, data.length - o);
        buf.set(data.subarray(o, o + n));
        yield buf.subarray(0, n);
      }
    },
  });
  await whole.write(join(dir, "whole.gguf"));
  await streamed.write(join(dir, "streamed.gguf"));
  assert.deepEqual(await readFile(join(dir, "streamed.gguf")), await readFile(join(dir, "whole.gguf")));
});

test("invalid input is rejected with a clear error, and a failed write leaves no file behind", async () => {
  const w = new GgufWriter().set("k", kv.u32(1));
  assert.throws(() => w.set("k", kv.u32(2)), /duplicate GGUF metadata key "k"/);
  assert.throws(() => w.set("general.alignment", kv.u32(64)), /alignment/);
  assert.throws(
    () => w.addTensor({ name: "q", shape: [48], type: GgmlType.Q4_0, data: new Uint8Array(0) }),
    /row length 48 is not a multiple of 32/,
  );
  assert.throws(
    () => w.addTensor({ name: "f", shape: [4], type: GgmlType.F32, data: new Uint8Array(8) }),
    /8 bytes given, 16 expected/,
  );
  assert.throws(() =>
    w.addTensor({ name: "x".repeat(64), shape: [1], type: GgmlType.F32, data: encodeF32([0]) }),
  );
  assert.throws(() => w.addTensor({ name: "z", shape: [0], type: GgmlType.F32, data: new Uint8Array(0) }));

  const badValue = new GgufWriter().set("small", kv.u8(256));
  assert.throws(() => badValue.header(), /GGUF metadata "small"/);

  const short = new GgufWriter().addTensor({
    name: "short",
    shape: [4],
    type: GgmlType.F32,
    *data() {
      yield new Uint8Array(12);
    },
  });
  const sub = await mkdtemp(join(dir, "failed-"));
  await assert.rejects(short.write(join(sub, "short.gguf")), /data source gave 12\+ bytes, 16 expected/);
  assert.deepEqual(await readdir(sub), []);
});

test("f16 conversion rounds to nearest even and handles the edges", () => {
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f32ToF16(-2), 0xc000);
  assert.equal(f32ToF16(0.5), 0x3800);
  assert.equal(f32ToF16(65504), 0x7bff);
  assert.equal(f32ToF16(65520), 0x7c00); // rounds up past the largest half: infinity
  assert.equal(f32ToF16(1e6), 0x7c00);
  assert.equal(f32ToF16(-Infinity), 0xfc00);
  assert.equal(f32ToF16(Number.NaN) & 0x7e00, 0x7e00);
  assert.equal(f32ToF16(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(f32ToF16(2 ** -25), 0x0000); // exactly half of it: ties to even (zero)
  assert.equal(f32ToF16(1.5 * 2 ** -24), 0x0002); // tie between 1 and 2: even
  assert.equal(f32ToF16(2 ** -14), 0x0400); // smallest normal
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie: stays even
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // tie: rounds up to even
  assert.equal(f32ToF16(-0), 0x8000);
  for (const bits of [0x0001, 0x03ff, 0x0400, 0x3555, 0x3c00, 0x7bff, 0xbc01, 0xfbff]) {
    assert.equal(f32ToF16(f16ToF32(bits)), bits, `round trip of 0x${bits.toString(16)}`);
  }
});

test("Q8_0 block: f16 scale max|x|/127 then 32 int8, round trip within half a step", () => {
  const values = Float32Array.from({ length: 32 }, (_, j) => (j - 16) / 8); // -2 .. 1.875
  const block = Buffer.from(quantizeQ8_0(values));
  // ggml's block_q8_0: an f16 scale and 32 int8 values.
  assert.equal(block.length, 2 + 32);
  const d = f16ToF32(block.readUInt16LE(0));
  assert.equal(block.readUInt16LE(0), f32ToF16(2 / 127));
  assert.equal(block.readInt8(2), -127); // x = -2 is the largest magnitude
  assert.equal(block.readInt8(2 + 16), 0);
  assert.equal(block.readInt8(2 + 24), 64); // 1 / (2/127) = 63.5 rounds away from zero
  const back = dequantizeQ8_0(block);
  for (let j = 0; j < 32; j++) assert.ok(Math.abs(back[j] - values[j]) <= d / 2 + 1e-6, `element ${j}`);

  const many = sampleValues(32 * 50);
  const restored = dequantizeQ8_0(quantizeQ8_0(many));
  for (let i = 0; i < many.length; i++) assert.ok(Math.abs(restored[i] - many[i]) < 0.001);
  assert.deepEqual([...dequantizeQ8_0(quantizeQ8_0(new Float32Array(32)))], new Array(32).fill(0));
});

test("Q4_0 block: low nibbles hold elements 0..15, high nibbles 16..31, value = (nibble - 8) * d", () => {
  // Element j is (j % 16 - 8) * 0.25 in the first half and its mirror in the second, so the signed
  // value of largest magnitude is -2 and d = -2 / -8 = 0.25.
  const values = Float32Array.from({ length: 32 }, (_, j) => (j < 16 ? j - 8 : 7 - (j - 16)) * 0.25);
  const block = Buffer.from(quantizeQ4_0(values));
  assert.equal(block.length, 18);
  assert.equal(f16ToF32(block.readUInt16LE(0)), 0.25);
  for (let j = 0; j < 16; j++) {
    assert.equal(block[2 + j] & 0x0f, j, `low nibble ${j} is element ${j}`);
    assert.equal(block[2 + j] >> 4, 15 - j, `high nibble ${j} is element ${j + 16}`);
  }
  assert.deepEqual([...dequantizeQ4_0(block)], [...values]);

  // A negative d when the largest magnitude is positive, as in ggml.
  const positive = Float32Array.from({ length: 32 }, (_, j) => j / 31);
  const pblock = Buffer.from(quantizeQ4_0(positive));
  const d = f16ToF32(pblock.readUInt16LE(0));
  assert.ok(Math.abs(d - -1 / 8) < 1e-3);
  const back = dequantizeQ4_0(pblock);
  for (let j = 0; j < 32; j++)
    assert.ok(Math.abs(back[j] - positive[j]) <= Math.abs(d) / 2 + 1e-3, `element ${j}`);
});
