import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createAnthropic } from "@ai-sdk/anthropic";
import Anthropic from "@anthropic-ai/sdk";
import { ChatAnthropic } from "@langchain/anthropic";
import { generateText, streamText } from "ai";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// Anthropic's Messages API on the real server with the tiny synthetic model (either engine, EDGELLM_ENGINE),
// driven by the clients people point at it: the official SDK, the AI SDK's provider, LangChain's, and Claude
// Code itself. The model's answers are random text: the tests check the protocol, not the words.

const CLAUDE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../../node_modules/.bin/claude",
);
const ALIAS = "claude-sonnet-4-5";
/** Greedy decoding for answers that must fit a shape; the SDK's types no longer list temperature, the API does. */
const GREEDY = { temperature: 0 } as object;

let small: ServerProcess;
let large: ServerProcess;
let client: Anthropic;

before(async () => {
  const model = await tinyModelPath();
  const common = ["--model", model, "--threads", "1", "--no-cloud", "--model-alias", `${ALIAS}=local`];
  // Claude Code's system prompt and tools are about 19k tokens: the large context holds them, the small one not.
  [small, large] = await Promise.all([
    startServerProcess([...common, "--ctx-size", "2048", "--parallel", "2"]),
    startServerProcess([...common, "--ctx-size", "32768", "--parallel", "1", "--no-response-cache"]),
  ]);
  client = new Anthropic({ baseURL: small.url, apiKey: "unused", maxRetries: 0 });
});
after(async () => {
  await Promise.all([small?.stop(), large?.stop()]);
});

const weather = {
  name: "get_weather",
  description: "Current weather in a city",
  input_schema: {
    type: "object" as const,
    properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["celsius", "fahrenheit"] } },
    required: ["city", "unit"],
    additionalProperties: false,
  },
};

test("the official SDK: create, stream helpers with the event sequence, and usage", async () => {
  const message = await client.messages.create({
    model: ALIAS,
    max_tokens: 12,
    system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
    messages: [{ role: "user", content: "Hello" }],
    metadata: { user_id: "u1" },
  });
  assert.equal(message.type, "message");
  assert.match(message.id, /^msg_/);
  assert.ok(["end_turn", "max_tokens"].includes(String(message.stop_reason)));
  assert.ok(message.usage.input_tokens > 0 && message.usage.output_tokens > 0);

  const events: string[] = [];
  const stream = client.messages.stream({
    model: ALIAS,
    max_tokens: 12,
    messages: [{ role: "user", content: "Hello" }],
  });
  stream.on("streamEvent", (event) => events.push(event.type));
  const final = await stream.finalMessage();
  assert.equal(events[0], "message_start");
  assert.equal(events.at(-1), "message_stop");
  assert.ok(events.includes("message_delta"));
  assert.ok(final.usage.output_tokens > 0);
  // The second identical prompt reuses the first one's KV cache: Anthropic's cache read.
  assert.ok((final.usage.cache_read_input_tokens ?? 0) > 0, JSON.stringify(final.usage));

  const stopped = await client.messages.create({
    model: ALIAS,
    max_tokens: 40,
    ...GREEDY,
    stop_sequences: ["a", "e", "i", "o", "u", " "],
    messages: [{ role: "user", content: "Say something" }],
  });
  if (stopped.stop_reason === "stop_sequence") assert.ok(stopped.stop_sequence);
  else assert.equal(stopped.stop_sequence, null);
});

test("the official SDK: a forced tool call round trip (tool_choice tool, then the result back), and countTokens", async () => {
  const first = await client.messages.create({
    model: ALIAS,
    max_tokens: 400,
    ...GREEDY,
    tools: [weather],
    tool_choice: { type: "tool", name: "get_weather", disable_parallel_tool_use: true },
    messages: [{ role: "user", content: "Weather in Oslo?" }],
  });
  assert.equal(first.stop_reason, "tool_use", JSON.stringify(first));
  const use = first.content.find((b) => b.type === "tool_use");
  assert.ok(use?.type === "tool_use", JSON.stringify(first.content));
  assert.equal(use.name, "get_weather");
  assert.ok(["celsius", "fahrenheit"].includes((use.input as { unit: string }).unit));

  const events: string[] = [];
  const stream = client.messages.stream({
    model: ALIAS,
    max_tokens: 400,
    ...GREEDY,
    tools: [weather],
    tool_choice: { type: "any", disable_parallel_tool_use: true },
    messages: [{ role: "user", content: "Weather in Oslo?" }],
  });
  stream.on("streamEvent", (event) => {
    if (event.type === "content_block_delta") events.push(event.delta.type);
  });
  const streamed = await stream.finalMessage();
  assert.ok(events.includes("input_json_delta"));
  assert.equal(streamed.stop_reason, "tool_use", JSON.stringify(streamed));

  const second = await client.messages.create({
    model: ALIAS,
    max_tokens: 8,
    tools: [weather],
    messages: [
      { role: "user", content: "Weather in Oslo?" },
      { role: "assistant", content: first.content },
      {
        role: "user",
        content: [{ type: "tool_result", tool_use_id: use.id, content: "12 degrees", is_error: false }],
      },
    ],
  });
  assert.equal(second.type, "message");

  const counted = await client.messages.countTokens({
    model: ALIAS,
    tools: [weather],
    messages: [{ role: "user", content: "Weather in Oslo?" }],
  });
  const bare = await client.messages.countTokens({
    model: ALIAS,
    messages: [{ role: "user", content: "Weather in Oslo?" }],
  });
  assert.ok(counted.input_tokens > bare.input_tokens && bare.input_tokens > 0);
});

test("errors in Anthropic's shape through the SDK: an image refused by name, an unknown model", async () => {
  await assert.rejects(
    client.messages.create({
      model: ALIAS,
      max_tokens: 8,
      messages: [
        { role: "user", content: [{ type: "image", source: { type: "url", url: "http://x/y.png" } }] },
      ],
    }),
    (error: unknown) =>
      error instanceof Anthropic.BadRequestError &&
      /image/.test(error.message) &&
      error.type === "invalid_request_error",
  );
  await assert.rejects(
    client.messages.create({
      model: "claude-unknown",
      max_tokens: 8,
      messages: [{ role: "user", content: "x" }],
    }),
    (error: unknown) => error instanceof Anthropic.NotFoundError,
  );
});

test("the AI SDK's @ai-sdk/anthropic with baseURL: generateText and streamText", async () => {
  const anthropic = createAnthropic({ baseURL: `${small.url}/v1`, apiKey: "unused" });
  const result = await generateText({
    model: anthropic(ALIAS),
    prompt: "Hello",
    maxOutputTokens: 8,
    maxRetries: 0,
  });
  assert.ok(result.usage.outputTokens && result.usage.outputTokens > 0);
  assert.ok(["stop", "length"].includes(result.finishReason));
  const streamed = streamText({
    model: anthropic(ALIAS),
    prompt: "Hello",
    maxOutputTokens: 8,
    maxRetries: 0,
  });
  let text = "";
  for await (const delta of streamed.textStream) text += delta;
  assert.equal(text, await streamed.text);
  assert.ok(["stop", "length"].includes(await streamed.finishReason));
});

test("LangChain's @langchain/anthropic: invoke and stream", async () => {
  const chat = new ChatAnthropic({
    model: ALIAS,
    anthropicApiUrl: small.url,
    apiKey: "unused",
    maxTokens: 8,
    maxRetries: 0,
  });
  const reply = await chat.invoke("Hello");
  assert.equal(typeof reply.content, "string");
  assert.ok((reply.usage_metadata?.output_tokens ?? 0) > 0);
  let chunks = 0;
  for await (const _chunk of await chat.stream("Hello")) chunks++;
  assert.ok(chunks > 0);
});

/** A recording proxy in front of a server: every request body Claude Code sends, for the checks and the log. */
async function recordingProxy(target: string) {
  const bodies: {
    url: string;
    headers: http.IncomingHttpHeaders;
    body: Record<string, unknown> | undefined;
  }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      bodies.push({
        url: req.url ?? "",
        headers: req.headers,
        body: raw.length > 0 ? (JSON.parse(raw.toString()) as Record<string, unknown>) : undefined,
      });
      const upstream = http.request(
        `${target}${req.url}`,
        { method: req.method, headers: { ...req.headers, host: new URL(target).host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.end(raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, bodies, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** `claude -p` in print mode against `baseUrl`, with a home of its own and no traffic but the API's. */
function claudeCode(
  baseUrl: string,
  prompt: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const home = mkdtempSync(path.join(tmpdir(), "edgellm-claude-"));
  const child = spawn(CLAUDE, ["-p", prompt, "--output-format", "json"], {
    cwd: home,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      CLAUDE_CONFIG_DIR: path.join(home, ".claude"),
      ANTHROPIC_BASE_URL: baseUrl,
      ANTHROPIC_AUTH_TOKEN: "unused",
      ANTHROPIC_MODEL: "local",
      ANTHROPIC_DEFAULT_HAIKU_MODEL: "local",
      // The tiny model seldom ends a turn by itself: a small cap keeps the session short.
      CLAUDE_CODE_MAX_OUTPUT_TOKENS: "32",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c) => {
    stdout += c;
  });
  child.stderr.on("data", (c) => {
    stderr += c;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

test("Claude Code (claude -p) completes a session on a large context without a protocol error", async (t) => {
  const proxy = await recordingProxy(large.url);
  t.after(() => proxy.close());
  const run = await claudeCode(proxy.url, "hi");
  const result = JSON.parse(run.stdout) as Record<string, unknown>;
  const sent = proxy.bodies.filter((b) => b.url.startsWith("/v1/messages"));
  const first = sent[0]?.body ?? {};
  t.diagnostic(
    `Claude Code sent ${sent.length} request(s); the first: ${JSON.stringify({
      url: sent[0]?.url,
      betas: sent[0]?.headers["anthropic-beta"],
      version: sent[0]?.headers["anthropic-version"],
      keys: Object.keys(first),
      model: first.model,
      max_tokens: first.max_tokens,
      thinking: first.thinking,
      output_config: first.output_config,
      context_management: first.context_management,
      tools: (first.tools as { name: string }[] | undefined)?.map((tool) => tool.name),
      bytes: JSON.stringify(first).length,
    })}`,
  );
  t.diagnostic(`result: ${JSON.stringify(result).slice(0, 600)}`);
  assert.ok(sent.length >= 1);
  assert.equal(result.type, "result");
  assert.equal(result.api_error_status, null, run.stdout);
  assert.ok((result.num_turns as number) >= 1);
  const usage = result.usage as { input_tokens: number; output_tokens: number };
  assert.ok(usage.input_tokens + usage.output_tokens > 0);
  // Random text seldom ends a turn: Claude Code then says the answer hit its output cap, which is no protocol error.
  if (result.is_error) assert.match(String(result.result), /output token maximum/, run.stdout);
});

test("Claude Code on a context too small for its prompt gets a clear error with the sizes", async () => {
  const run = await claudeCode(small.url, "hi");
  const result = JSON.parse(run.stdout) as Record<string, unknown>;
  assert.equal(result.is_error, true, run.stdout);
  assert.match(
    String(result.result),
    /API Error: 400 .*maximum context length is 2048 tokens.*you requested \d+ tokens/,
    run.stdout,
  );
});
