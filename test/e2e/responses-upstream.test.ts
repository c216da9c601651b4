import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import { closedPortUrl } from "../helpers/fake-upstream.js";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// /v1/responses through the cloud route: a front `edgellm serve` whose upstream "cloud" is a second real
// `edgellm serve`. The front drives the upstream with chat completions; the Responses format is its own.

let front: ServerProcess;
let upstream: ServerProcess;
let client: OpenAI;

before(async () => {
  const port = Number(new URL(await closedPortUrl()).port);
  const base = ["--model", await tinyModelPath(), "--ctx-size", "1024", "--parallel", "1", "--threads", "1"];
  [front, upstream] = await Promise.all([
    startServerProcess([...base, "--upstream", `cloud=http://127.0.0.1:${port}/v1`], {
      EDGELLM_UPSTREAM_CLOUD_MODEL: "local",
    }),
    startServerProcess([...base, "--port", String(port)]),
  ]);
  client = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

after(async () => {
  await Promise.all([front?.stop(), upstream?.stop()]);
});

test("create and stream through the upstream route, and previous_response_id across it", async () => {
  const { data: first, response } = await client.responses
    .create({ model: "cloud", input: "hi", max_output_tokens: 8, temperature: 0 })
    .withResponse();
  assert.equal(response.headers.get("x-edgellm-route"), "cloud");
  assert.equal(first.output[0].type, "message");
  assert.match(first.model, /tiny/, "the model that answered upstream");
  assert.ok((first.usage?.output_tokens ?? 0) >= 1);

  const stream = client.responses.stream({
    model: "cloud",
    input: "again",
    previous_response_id: first.id,
    max_output_tokens: 8,
  });
  const types: string[] = [];
  for await (const event of stream) types.push(event.type);
  const final = await stream.finalResponse();
  assert.equal(types[0], "response.created");
  assert.ok(["response.completed", "response.incomplete"].includes(types.at(-1) ?? ""));
  assert.ok(
    (final.usage?.input_tokens ?? 0) > (first.usage?.input_tokens ?? 0),
    "the first turn was sent too",
  );
});

test("a forced function call through the upstream comes back as a function_call item", async () => {
  const response = await client.responses.create({
    model: "cloud",
    input: "Weather in Paris?",
    tools: [
      {
        type: "function",
        name: "get_weather",
        parameters: {
          type: "object",
          properties: { city: { type: "string", maxLength: 12 } },
          required: ["city"],
        },
        strict: true,
      },
    ],
    tool_choice: "required",
    parallel_tool_calls: false,
    max_output_tokens: 64,
    temperature: 0,
  });
  const call = response.output.find((item) => item.type === "function_call");
  assert.ok(call && call.type === "function_call", JSON.stringify(response.output));
  assert.equal(call.name, "get_weather");
  assert.equal(typeof JSON.parse(call.arguments).city, "string");
});
