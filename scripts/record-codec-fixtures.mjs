#!/usr/bin/env node
// Records the upstream chunk fixtures of test/openai/fixtures/ from a running OpenAI-compatible server:
// each request is sent twice with a fixed seed at temperature 0, streamed (every `data:` event kept as
// it came) and whole, so the whole answer is an oracle the streamed one is checked against.
//
//   node scripts/record-codec-fixtures.mjs <base-url e.g. http://127.0.0.1:8080/v1> <name-prefix> <source>
import { writeFile } from "node:fs/promises";

const [baseUrl, prefix, source] = process.argv.slice(2);
if (!baseUrl || !prefix || !source) {
  console.error("usage: record-codec-fixtures.mjs <base-url> <name-prefix> <source description>");
  process.exit(2);
}

const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};
const common = { temperature: 0, seed: 7, max_tokens: 12 };
const cases = {
  chat: { path: "/chat/completions", body: { ...common, messages: [{ role: "user", content: "Hi!" }] } },
  "chat-logprobs": {
    path: "/chat/completions",
    body: {
      ...common,
      max_tokens: 4,
      messages: [{ role: "user", content: "Hi!" }],
      logprobs: true,
      top_logprobs: 2,
    },
  },
  "chat-tool-call": {
    path: "/chat/completions",
    body: {
      ...common,
      max_tokens: 40,
      messages: [{ role: "user", content: "Weather in Paris?" }],
      tools: [weather],
      tool_choice: { type: "function", function: { name: "get_weather" } },
    },
  },
  completion: { path: "/completions", body: { ...common, prompt: "Once upon a time" } },
};

for (const [name, { path, body }] of Object.entries(cases)) {
  const post = (extra) =>
    fetch(baseUrl + path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, ...extra }),
    });
  const streamed = await post({ stream: true, stream_options: { include_usage: true } });
  if (!streamed.ok) {
    console.error(`${name}: HTTP ${streamed.status} ${await streamed.text()}`);
    continue;
  }
  const chunks = (await streamed.text())
    .split("\n\n")
    .map((event) => event.trim())
    .filter((event) => event.startsWith("data: ") && event !== "data: [DONE]")
    .map((event) => JSON.parse(event.slice("data: ".length)));
  const whole = await (await post({})).json();
  const choice = whole.choices[0];
  const file = `test/openai/fixtures/${prefix}-${name}.json`;
  const fixture = {
    source: `recorded: ${source}`,
    request: { path, body },
    chunks,
    // The same request unstreamed: what the chunks must add up to.
    whole: {
      text: choice.message?.content ?? choice.text ?? "",
      toolCalls: choice.message?.tool_calls ?? [],
      finishReason: choice.finish_reason,
      usage: whole.usage,
    },
  };
  await writeFile(file, `${JSON.stringify(fixture, null, 2)}\n`);
  console.log(`${file}: ${chunks.length} chunks`);
}
