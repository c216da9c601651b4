import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import OpenAI from "openai";
import { tinyServerFixture } from "../helpers/server-process.js";

// The real `edgellm serve` on port 0 with the tiny synthetic model, driven by the official openai client.
const e2e = tinyServerFixture(["--ctx-size", "2048", "--max-queue", "0"]);

const hello = [{ role: "user" as const, content: "你好, who are you? 😀" }];

test("models lists the served model", async () => {
  const models = await e2e.client.models.list();
  assert.equal(models.data.length, 1);
  assert.equal(models.data[0].object, "model");
  assert.match(models.data[0].id, /tiny/);
});

test("non-streaming chat completion", async () => {
  const completion = await e2e.client.chat.completions.create({
    model: "local",
    messages: hello,
    max_tokens: 16,
  });
  assert.match(completion.id, /^chatcmpl-/);
  assert.equal(completion.object, "chat.completion");
  assert.ok(completion.created > 0);
  const choice = completion.choices[0];
  assert.equal(choice.message.role, "assistant");
  assert.equal(typeof choice.message.content, "string");
  assert.ok(["stop", "length"].includes(choice.finish_reason));
  assert.ok(completion.usage);
  assert.ok(completion.usage.prompt_tokens > 10);
  assert.ok(completion.usage.completion_tokens >= 1 && completion.usage.completion_tokens <= 16);
  assert.equal(
    completion.usage.total_tokens,
    completion.usage.prompt_tokens + completion.usage.completion_tokens,
  );
});

test("max_tokens is honoured exactly when generation runs long (ignore_eos)", async () => {
  const body = { model: "local", messages: hello, max_tokens: 12, ignore_eos: true } as const;
  const completion = await e2e.client.chat.completions.create(
    body as OpenAI.ChatCompletionCreateParamsNonStreaming,
  );
  assert.equal(completion.choices[0].finish_reason, "length");
  assert.equal(completion.usage?.completion_tokens, 12);
});

test("streaming chat completion matches the non-streaming answer for the same seed", async () => {
  const params = { model: "local", messages: hello, max_tokens: 24, temperature: 0.7, seed: 1234 };
  const full = await e2e.client.chat.completions.create(params);
  const stream = await e2e.client.chat.completions.create({
    ...params,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    text += choice.delta.content ?? "";
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.ok(chunks > 2);
  assert.equal(text, full.choices[0].message.content);
  assert.equal(finish, full.choices[0].finish_reason);
  assert.equal(usage?.completion_tokens, full.usage?.completion_tokens);
});

test("same seed and request give the same output; another seed differs", async () => {
  const params = {
    model: "local",
    messages: hello,
    max_tokens: 24,
    temperature: 1,
    seed: 7,
    ignore_eos: true,
  };
  const create = (seed: number) =>
    e2e.client.chat.completions.create({ ...params, seed } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  const [a, b, c] = [await create(7), await create(7), await create(8)];
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
});

test("stop strings end the answer and are not included", async () => {
  const base = {
    model: "local",
    messages: hello,
    max_tokens: 40,
    temperature: 1,
    seed: 99,
    ignore_eos: true,
  };
  const free = await e2e.client.chat.completions.create(
    base as OpenAI.ChatCompletionCreateParamsNonStreaming,
  );
  const text = free.choices[0].message.content ?? "";
  // Pick a stop string from the middle of the free-running answer; the stopped answer is its prefix.
  const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
  assert.ok(stop.trim().length > 0, `answer too short to pick a stop string from: ${JSON.stringify(text)}`);
  const stopped = await e2e.client.chat.completions.create({
    ...base,
    stop: [stop],
  } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  assert.equal(stopped.choices[0].finish_reason, "stop");
  assert.equal(stopped.choices[0].message.content, text.slice(0, text.indexOf(stop)));
});

test("the issue's completions request works exactly as written, streaming and not", async () => {
  const res = await fetch(`${e2e.server.url}/v1/completions`, {
    method: "POST",
    body: '{"prompt": "请用JSON格式返回北京今天的天气信息,包含温度、湿度和风速。", "max_tokens": 512, "temperature": 0.7}',
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as OpenAI.Completion;
  assert.equal(body.object, "text_completion");
  assert.equal(typeof body.choices[0].text, "string");
  assert.ok((body.usage?.completion_tokens ?? 0) <= 512);
  assert.ok(["stop", "length"].includes(body.choices[0].finish_reason));

  const stream = await e2e.client.completions.create({
    model: "local",
    prompt: "请用JSON格式返回北京今天的天气信息,包含温度、湿度和风速。",
    max_tokens: 32,
    temperature: 0.7,
    stream: true,
  });
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, "text_completion");
  }
  assert.ok(chunks >= 1);
});

test("a client that disconnects mid-stream stops its generation; the server serves the next request", async () => {
  const controller = new AbortController();
  const stream = await e2e.client.chat.completions.create(
    {
      model: "local",
      messages: hello,
      max_tokens: 1900,
      ignore_eos: true,
      stream: true,
    } as OpenAI.ChatCompletionCreateParamsStreaming,
    { signal: controller.signal },
  );
  let received = 0;
  try {
    for await (const _chunk of stream) {
      if (++received === 5) {
        controller.abort();
        break;
      }
    }
  } catch (error) {
    assert.ok(controller.signal.aborted, String(error));
  }
  assert.equal(received, 5);
  // --max-queue 0: while the aborted generation held the only slot, this would be refused with 429.
  // It must get the slot as soon as the server has seen the disconnect (within one token).
  let completion: OpenAI.ChatCompletion | undefined;
  for (let attempt = 0; attempt < 100 && !completion; attempt++) {
    try {
      completion = await e2e.client.chat.completions.create({
        model: "local",
        messages: hello,
        max_tokens: 4,
      });
    } catch (error) {
      assert.ok(error instanceof OpenAI.APIError && error.status === 429, String(error));
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  assert.ok(completion, "the slot was never freed");
  assert.equal(completion.choices.length, 1);
});

test("errors are OpenAI-shaped with the right status", async () => {
  const expectError = async (promise: Promise<unknown>, status: number, code?: string, param?: string) => {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError, String(error));
      assert.equal(error.status, status);
      if (code) assert.equal(error.code, code);
      if (param) assert.equal(error.param, param);
      return true;
    });
  };
  await expectError(
    e2e.client.chat.completions.create({ model: "gpt-4o", messages: hello }),
    404,
    "model_not_found",
    "model",
  );
  await expectError(
    e2e.client.chat.completions.create({ model: "local", messages: hello, temperature: 9 }),
    400,
    undefined,
    "temperature",
  );
  await expectError(
    e2e.client.chat.completions.create({ model: "local", messages: hello, n: 3 }),
    400,
    undefined,
    "n",
  );
  await expectError(
    e2e.client.chat.completions.create({ model: "local", messages: hello, max_tokens: 5000 }),
    400,
    "context_length_exceeded",
    "max_tokens",
  );
  await expectError(
    e2e.client.chat.completions.create({
      model: "local",
      messages: [{ role: "user", content: Array.from({ length: 2500 }, (_, i) => `w${i}`).join(" ") }],
    }),
    400,
    "context_length_exceeded",
  );

  const malformed = await fetch(`${e2e.server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"messages": [',
  });
  assert.equal(malformed.status, 400);
  assert.equal(((await malformed.json()) as { error: { code: string } }).error.code, "invalid_json");

  const huge = await postOversized(`${e2e.server.url}/v1/chat/completions`, 9 * 1024 * 1024);
  assert.equal(huge.status, 413);
  assert.equal((JSON.parse(huge.body) as { error: { code: string } }).error.code, "payload_too_large");

  // After all that, the server still answers.
  const ok = await e2e.client.chat.completions.create({ model: "local", messages: hello, max_tokens: 2 });
  assert.equal(ok.choices.length, 1);
});

/**
 * Streams a chunked JSON body of about `bytes` over a raw socket until the server answers, then reads that
 * answer. A server refusing an oversized body answers and closes mid-upload; a client still writing then gets
 * EPIPE or ECONNRESET, sometimes before it has read the answer, so writing stops as soon as any answer arrives.
 */
function postOversized(url: string, bytes: number): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let answer = "";
    const finish = () => {
      const match = /^HTTP\/1\.1 (\d{3}).*?\r\n\r\n(.*)$/s.exec(answer);
      if (!match) return reject(new Error(`no HTTP answer: ${JSON.stringify(answer.slice(0, 200))}`));
      // The body may be chunked: keep what lies between the first "{" and the last "}".
      resolve({
        status: Number(match[1]),
        body: match[2].slice(match[2].indexOf("{"), match[2].lastIndexOf("}") + 1),
      });
    };
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      answer += chunk;
    });
    socket.on("error", () => {}); // EPIPE/ECONNRESET once the server has answered and closed
    socket.on("close", finish);
    socket.on("connect", async () => {
      socket.write(
        `POST ${new URL(url).pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
      );
      const piece = "x".repeat(64 * 1024);
      const chunk = `${piece.length.toString(16)}\r\n${piece}\r\n`;
      socket.write(
        `${'{"messages": [{"role": "user", "content": "'.length.toString(16)}\r\n{"messages": [{"role": "user", "content": "\r\n`,
      );
      for (let sent = 0; sent < bytes && answer === "" && !socket.destroyed; sent += piece.length) {
        if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r));
      }
      if (answer === "" && !socket.destroyed) socket.end('8\r\n"}]}    \r\n0\r\n\r\n');
    });
  });
}
