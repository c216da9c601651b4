/** Deterministic pseudo-random bytes (xorshift) that start with the GGUF magic: a stand-in model file. */
export function fakeGguf(size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  buf.write("GGUF", 0, "latin1");
  return buf;
}
