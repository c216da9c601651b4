import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { buildServer } from "../../src/api/server.js";
import { fromChunk } from "../../src/openai/from-upstream-chunk.js";
import { toChatBody } from "../../src/openai/to-upstream-request.js";
import { StructuredOutputError } from "../../src/provider/errors.js";
import type {
  FinishReason,
  GenerateRequest,
  ModelInfo,
  ModelProvider,
  StreamPart,
} from "../../src/provider/types.js";
import { DEFAULT_SAMPLING } from "../../src/provider/types.js";
import { ValidatingProvider } from "../../src/structured/validating-provider.js";
import { checkJson } from "../../src/structured/validator.js";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

const schema = {
  type: "object",
  properties: { city: { type: "string", maxLength: 12 }, temp: { type: "integer" } },
  required: ["city", "temp"],
};
const request: GenerateRequest = {
  model: "m",
  prompt: { kind: "chat", messages: [{ role: "user", content: "weather?" }] },
  sampling: { ...DEFAULT_SAMPLING, seed: 1 },
  format: { kind: "json_schema", name: "w", schema },
};
const usage = { promptTokens: 10, completionTokens: 5, cachedTokens: 0 };

/** Answers from a script, one per call, and records what it was asked. */
class ScriptedProvider implements ModelProvider {
  readonly state = "ready" as const;
  readonly requests: GenerateRequest[] = [];
  constructor(private readonly answers: { text: string; finish?: "stop" | "length" }[]) {}
  listModels(): ModelInfo[] {
    return [{ id: "m", created: 0, ownedBy: "test", contextSize: 100 }];
  }
  resolveModel(): string {
    return "m";
  }
  async *stream(req: GenerateRequest): AsyncGenerator<StreamPart> {
    const answer = this.answers[Math.min(this.requests.length, this.answers.length - 1)];
    this.requests.push(req);
    yield { type: "meta", meta: { route: "upstream" } };
    for (const piece of answer.text.match(/.{1,3}/gs) ?? []) yield { type: "text-delta", text: piece };
    yield { type: "finish", finishReason: answer.finish ?? "stop", usage };
  }
}

async function drain(provider: ModelProvider, req = request) {
  const parts: StreamPart[] = [];
  for await (const part of provider.stream(req, { signal: new AbortController().signal })) parts.push(part);
  return parts;
}

test("invalid then valid: the error is fed back and the valid answer is sent once, whole", async () => {
  const inner = new ScriptedProvider([
    { text: '{"city": "Paris"}' },
    { text: '{"city": "Paris", "temp": 21}' },
  ]);
  const parts = await drain(new ValidatingProvider(inner));
  assert.equal(inner.requests.length, 2);
  const retry = inner.requests[1].prompt;
  assert.ok(retry.kind === "chat");
  assert.deepEqual(
    retry.messages.slice(-2).map((m) => m.role),
    ["assistant", "user"],
  );
  assert.equal(retry.messages.at(-2)?.content, '{"city": "Paris"}');
  assert.match(retry.messages.at(-1)?.content ?? "", /must have required property 'temp'/);
  assert.deepEqual(
    parts.map((p) => p.type),
    ["meta", "text-delta", "finish"],
  );
  assert.deepEqual(parts[1], { type: "text-delta", text: '{"city": "Paris", "temp": 21}' });
  const finish = parts[2];
  assert.ok(finish.type === "finish");
  assert.equal(finish.usage.completionTokens, 10, "usage counts every attempt");
});

test("properties named like Object.prototype members are checked on the document itself", () => {
  const schema = {
    type: "object",
    properties: { constructor: { type: "integer" }, toString: { type: "string" } },
    required: ["constructor"],
  };
  // Inherited members are not properties of a parsed document: `{}` lacks "constructor".
  assert.equal(checkJson("{}", schema).ok, false);
  assert.equal(checkJson('{"constructor": 1}', schema).ok, true);
  assert.equal(checkJson('{"constructor": 1, "toString": 2}', schema).ok, false);
});

test("always invalid: a StructuredOutputError (502) after 1 + maxRetries attempts", async () => {
  const inner = new ScriptedProvider([{ text: "not json" }]);
  await assert.rejects(drain(new ValidatingProvider(inner, { maxRetries: 3 })), (error: unknown) => {
    assert.ok(error instanceof StructuredOutputError);
    assert.equal(error.status, 502);
    assert.equal(error.code, "structured_output_invalid");
    assert.match(error.message, /not valid JSON/);
    return true;
  });
  assert.equal(inner.requests.length, 4);
});

test("a length-cut answer is passed on as length, not retried; unconstrained and enforced requests stream through", async () => {
  const cut = new ScriptedProvider([{ text: '{"city": "Pa', finish: "length" }]);
  const parts = await drain(new ValidatingProvider(cut));
  assert.equal(cut.requests.length, 1);
  const last = parts.at(-1);
  assert.equal(last?.type === "finish" && last.finishReason, "length");
  const free = new ScriptedProvider([{ text: "hello there" }]);
  const streamed = await drain(new ValidatingProvider(free), { ...request, format: undefined });
  assert.equal(streamed.filter((p) => p.type === "text-delta").length, 4);
  const enforced = await drain(
    new ValidatingProvider(new ScriptedProvider([{ text: "x" }]), { enforces: () => true }),
  );
  assert.equal(enforced.filter((p) => p.type === "text-delta").length, 1);
});

/** Streams the given parts once per call, as an upstream would. */
class PartsProvider implements ModelProvider {
  readonly state = "ready" as const;
  calls = 0;
  constructor(private readonly parts: StreamPart[]) {}
  listModels(): ModelInfo[] {
    return [];
  }
  resolveModel(): string {
    return "m";
  }
  async *stream(): AsyncGenerator<StreamPart> {
    this.calls++;
    yield* this.parts;
  }
}

test("a turn that calls tools passes through whole with its calls, and logprobs are kept", async () => {
  const calls: StreamPart[] = [
    { type: "tool-call-delta", index: 0, id: "call_1", name: "weather", argumentsDelta: "" },
    { type: "tool-call-delta", index: 0, argumentsDelta: '{"city":' },
    { type: "tool-call-delta", index: 0, argumentsDelta: ' "Paris"}' },
  ];
  const inner = new PartsProvider([
    { type: "meta", meta: { route: "upstream" } },
    ...calls,
    { type: "finish", finishReason: "tool_calls", usage },
  ]);
  const tools = [{ name: "weather", parameters: { type: "object" } }];
  const withTools: GenerateRequest = {
    ...request,
    prompt: { kind: "chat", tools, messages: [{ role: "user", content: "weather?" }] },
  };
  const parts = await drain(new ValidatingProvider(inner), withTools);
  assert.equal(inner.calls, 1, "a tool call is a valid turn: no retry");
  assert.deepEqual(parts, [
    { type: "meta", meta: { route: "upstream" } },
    ...calls,
    { type: "finish", finishReason: "tool_calls", usage },
  ]);

  const lp = (token: string) => ({ token, bytes: [...Buffer.from(token)], logprob: -0.5, top: [] });
  const answer = new PartsProvider([
    { type: "text-delta", text: '{"city": "Paris", ', logprobs: [lp('{"city": "Paris", ')] },
    { type: "text-delta", text: '"temp": 21}', logprobs: [lp('"temp": 21}')] },
    { type: "finish", finishReason: "stop", usage },
  ]);
  const valid = await drain(new ValidatingProvider(answer));
  assert.deepEqual(valid[0], {
    type: "text-delta",
    text: '{"city": "Paris", "temp": 21}',
    logprobs: [lp('{"city": "Paris", '), lp('"temp": 21}')],
  });
});

// ---- end to end: a second real edgellm process plays an upstream that cannot be constrained ----

/**
 * A minimal ModelProvider over an OpenAI-compatible server, speaking through the codec as
 * UpstreamProvider does, without its retries. By default it does not pass response_format on, like a
 * model with no constrained decoding.
 */
class OpenAIAdapter implements ModelProvider {
  readonly state = "ready" as const;
  calls = 0;
  constructor(
    private readonly client: OpenAI,
    private readonly forwardFormat = false,
  ) {}
  listModels(): ModelInfo[] {
    return [{ id: "upstream", created: 0, ownedBy: "test", contextSize: 2048 }];
  }
  resolveModel(): string {
    return "upstream";
  }
  async *stream(req: GenerateRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    this.calls++;
    assert.ok(req.prompt.kind === "chat");
    const sent = this.forwardFormat ? req : { ...req, format: undefined };
    const stream = await this.client.chat.completions.create(toChatBody("local", sent, req.prompt.messages), {
      signal,
    });
    let finishReason: FinishReason = "stop";
    for await (const raw of stream) {
      const chunk = fromChunk(raw);
      assert.ok(chunk.ok);
      yield* chunk.parts;
      finishReason = chunk.finishReason ?? finishReason;
      if (chunk.usage) yield { type: "finish", finishReason, usage: chunk.usage };
    }
  }
}

let upstream: ServerProcess;
let front: FastifyInstance | undefined;

before(async () => {
  upstream = await startServerProcess([
    "--model",
    await tinyModelPath(),
    "--threads",
    "1",
    "--parallel",
    "1",
    "--no-response-cache",
    "--no-cloud",
  ]);
});

after(async () => {
  await front?.close();
  await upstream?.stop();
});

async function frontFor(adapter: OpenAIAdapter): Promise<OpenAI> {
  await front?.close();
  front = await buildServer({ provider: new ValidatingProvider(adapter, { maxRetries: 2 }) });
  const url = await front.listen({ host: "127.0.0.1", port: 0 });
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
}

const upstreamClient = () => new OpenAI({ baseURL: `${upstream.url}/v1`, apiKey: "unused", maxRetries: 0 });
const body = {
  model: "upstream",
  messages: [{ role: "user" as const, content: "The weather in Paris, as JSON." }],
  max_tokens: 60,
  seed: 4,
  response_format: { type: "json_schema" as const, json_schema: { name: "weather", schema } },
};

test("e2e: an unconstrained model's noise is retried twice, then a clear 502 structured_output_invalid", async () => {
  const adapter = new OpenAIAdapter(upstreamClient());
  const client = await frontFor(adapter);
  await assert.rejects(client.chat.completions.create(body), (error: unknown) => {
    assert.ok(error instanceof OpenAI.APIError);
    assert.equal(error.status, 502);
    assert.equal(error.code, "structured_output_invalid");
    assert.match(error.message, /after 3 attempts/);
    return true;
  });
  assert.equal(adapter.calls, 3);
});

test("e2e: an upstream that does honour the schema passes validation on the first attempt, streaming too", async () => {
  // The same server, now sent the response_format (it constrains itself): the wrapper's valid path.
  const adapter = new OpenAIAdapter(upstreamClient(), true);
  const client = await frontFor(adapter);
  const full = await client.chat.completions.create({ ...body, max_tokens: 200 });
  assert.equal(full.choices[0].finish_reason, "stop");
  const doc = JSON.parse(full.choices[0].message.content ?? "") as Record<string, unknown>;
  assert.equal(typeof doc.city, "string");
  assert.ok(Number.isInteger(doc.temp));
  let streamed = "";
  for await (const chunk of await client.chat.completions.create({
    ...body,
    max_tokens: 200,
    stream: true,
  })) {
    streamed += chunk.choices[0]?.delta.content ?? "";
  }
  assert.equal(streamed, full.choices[0].message.content);
  assert.equal(adapter.calls, 2);
});
