import assert from "node:assert/strict";
import { test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { generateObject, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";
import { tinyServerFixture } from "../helpers/server-process.js";

// The Vercel AI SDK's default OpenAI model, `openai(id)`, speaks the Responses API: generateText,
// streamText, generateObject and tool calls against the real server and the tiny synthetic model.

const e2e = tinyServerFixture(["--ctx-size", "2048"]);

/** The README's provider, pointed at the test server. */
const edgellm = () => createOpenAI({ baseURL: `${e2e.server.url}/v1`, apiKey: "unused" });

test("README: generateText and streamText", async () => {
  const { text, usage, finishReason } = await generateText({
    model: edgellm()("local"),
    prompt: "Say hi.",
    maxOutputTokens: 16,
  });
  assert.equal(typeof text, "string");
  assert.ok(["stop", "length"].includes(finishReason));
  assert.ok((usage.outputTokens ?? 0) >= 1 && (usage.outputTokens ?? 0) <= 16);

  const result = streamText({ model: edgellm()("local"), prompt: "Count to five.", maxOutputTokens: 12 });
  let streamed = "";
  for await (const delta of result.textStream) streamed += delta;
  assert.equal(streamed, await result.text);
  assert.ok(((await result.usage).outputTokens ?? 0) >= 1);
  assert.equal(await result.finishReason, "length");
});

test("README: generateObject with a zod schema gives an object that validates", async () => {
  const schema = z.object({ city: z.string().max(20), population: z.number().int() });
  const { object } = await generateObject({
    model: edgellm()("local"),
    schema,
    prompt: "Name a city and its population.",
    maxOutputTokens: 200,
    temperature: 0,
  });
  assert.deepEqual(schema.parse(object), object);
});

test("README: a tool call, run and answered in a second step", async () => {
  const calls: unknown[] = [];
  const result = await generateText({
    model: edgellm()("local"),
    prompt: "What is the weather in Paris?",
    tools: {
      weather: tool({
        description: "Current weather in a city",
        inputSchema: z.object({ city: z.string().max(12) }),
        execute: async ({ city }) => {
          calls.push(city);
          return { city, celsius: 21 };
        },
      }),
    },
    toolChoice: "required",
    providerOptions: { openai: { parallelToolCalls: false } },
    stopWhen: stepCountIs(2),
    prepareStep: ({ stepNumber }) => (stepNumber > 0 ? { toolChoice: "none" } : {}),
    maxOutputTokens: 64,
    temperature: 0,
  });
  assert.equal(result.steps.length, 2);
  const [first, second] = result.steps;
  assert.equal(first.toolCalls.length, 1);
  assert.equal(first.toolCalls[0].toolName, "weather");
  assert.equal(calls.length, 1);
  assert.equal(typeof calls[0], "string");
  // The second step sent the call and its output back (as items or item references) and got text.
  assert.equal(second.toolCalls.length, 0);
  assert.ok(["stop", "length"].includes(second.finishReason));
});
