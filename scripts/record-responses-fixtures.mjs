#!/usr/bin/env node
// Records the Responses event fixtures of test/openai/fixtures/responses/ from a running edgellm (the tiny
// synthetic model): each request streamed, every SSE message kept as it came, its `event:` name checked
// against the `type` it carries.
//
//   node scripts/record-responses-fixtures.mjs <base-url e.g. http://127.0.0.1:8080/v1> <source>
import { writeFile } from "node:fs/promises";

const [baseUrl, source] = process.argv.slice(2);
if (!baseUrl || !source) {
  console.error("usage: record-responses-fixtures.mjs <base-url> <source description>");
  process.exit(2);
}

const cases = {
  text: { model: "local", input: "hi", max_output_tokens: 6, temperature: 0.7, seed: 3, ignore_eos: true },
  "tool-call": {
    model: "local",
    input: "What time is it in Paris?",
    max_output_tokens: 64,
    temperature: 0,
    tools: [
      {
        type: "function",
        name: "get_time",
        description: "Current time in a city",
        parameters: {
          type: "object",
          properties: { city: { type: "string", maxLength: 12 } },
          required: ["city"],
          additionalProperties: false,
        },
      },
    ],
    tool_choice: "required",
    parallel_tool_calls: false,
  },
};

for (const [name, request] of Object.entries(cases)) {
  const body = { ...request, stream: true, store: false };
  const res = await fetch(`${baseUrl}/responses`, { method: "POST", body: JSON.stringify(body) });
  if (!res.ok) {
    console.error(`${name}: HTTP ${res.status} ${await res.text()}`);
    continue;
  }
  const events = (await res.text())
    .split("\n\n")
    .filter((message) => message.trim() !== "")
    .map((message) => {
      const [eventLine, dataLine] = message.split("\n");
      const event = JSON.parse(dataLine.slice("data: ".length));
      if (eventLine !== `event: ${event.type}`)
        throw new Error(`${name}: '${eventLine}' carries ${event.type}`);
      return event;
    });
  const file = `test/openai/fixtures/responses/edgellm-${name}.json`;
  await writeFile(
    file,
    `${JSON.stringify({ source: `recorded: ${source}`, request: { path: "/v1/responses", body }, events }, null, 2)}\n`,
  );
  console.log(`${file}: ${events.length} events`);
}
