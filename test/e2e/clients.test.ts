import assert from "node:assert/strict";
import { test } from "node:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ContextOverflowError } from "@langchain/core/errors";
import { ChatOpenAI } from "@langchain/openai";
import { OpenAI as LlamaIndexOpenAI } from "@llamaindex/openai";
import { generateObject, jsonSchema } from "ai";
import OpenAI from "openai";
import { tinyServerFixture } from "../helpers/server-process.js";

// The client libraries of issue #14, unmodified, against the real server and the tiny model. docs/api.md's
// "Using edgellm from ..." snippets are copied from these tests. A client's default model name (gpt-4o)
// works through --model-alias.
const e2e = tinyServerFixture(["--ctx-size", "512", "--model-alias", "gpt-4o=local"]);
const baseURL = () => `${e2e.server.url}/v1`;

test("openai SDK: chat through the gpt-4o alias", async () => {
  // docs/api.md: openai
  const client = new OpenAI({ baseURL: baseURL(), apiKey: "unused" });
  const completion = await client.chat.completions.create({
    model: "gpt-4o", // served by the local model: --model-alias gpt-4o=local
    messages: [{ role: "user", content: "Hello!" }],
    max_tokens: 16,
  });
  // docs/api.md: end
  assert.equal(typeof completion.choices[0].message.content, "string");
  assert.match(completion.model, /tiny/, "the response names the model that answered");
});

test("AI SDK: generateObject with supportsStructuredOutputs sends the schema, and the answer is schema-valid", async () => {
  // docs/api.md: ai-sdk
  const edgellm = createOpenAICompatible({
    name: "edgellm",
    baseURL: baseURL(),
    // Without it, the AI SDK sends only `json_object` and the schema is not enforced.
    supportsStructuredOutputs: true,
  });
  const { object } = await generateObject({
    model: edgellm("local"),
    schema: jsonSchema<{ city: string; sunny: boolean }>({
      type: "object",
      properties: { city: { type: "string", maxLength: 12 }, sunny: { type: "boolean" } },
      required: ["city", "sunny"],
      additionalProperties: false,
    }),
    prompt: "Weather in Beijing as JSON.",
    maxOutputTokens: 200,
  });
  // docs/api.md: end
  assert.deepEqual(Object.keys(object).sort(), ["city", "sunny"]);
  assert.equal(typeof object.city, "string");
  assert.ok([...object.city].length <= 12, "maxLength counts characters (code points)");
  assert.equal(typeof object.sunny, "boolean");
});

test("LangChain: ChatOpenAI chats, and a prompt too long for the context is its ContextOverflowError", async () => {
  // docs/api.md: langchain
  const model = new ChatOpenAI({
    model: "local",
    apiKey: "unused",
    configuration: { baseURL: baseURL() },
    maxTokens: 16,
    maxRetries: 0,
  });
  const answer = await model.invoke("Hello!");
  // docs/api.md: end
  assert.equal(typeof answer.content, "string");
  const error = await model.invoke("word ".repeat(2000)).catch((e: unknown) => e);
  assert.ok(ContextOverflowError.isInstance(error), String(error));
});

test("LlamaIndex: OpenAI chat", async () => {
  // docs/api.md: llamaindex
  const llm = new LlamaIndexOpenAI({ model: "local", apiKey: "unused", baseURL: baseURL(), maxTokens: 16 });
  const response = await llm.chat({ messages: [{ role: "user", content: "Hello!" }] });
  // docs/api.md: end
  assert.equal(typeof response.message.content, "string");
});
