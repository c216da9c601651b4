import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { tinyServerFixture } from "../helpers/server-process.js";

// Edge cases through the real `serve` on the tiny model: a forced tool call cut by max_tokens, an empty
// prompt, and the --body-timeout flag.
const e2e = tinyServerFixture([
  "--ctx-size",
  "1024",
  "--parallel",
  "1",
  "--no-response-cache",
  "--no-cloud",
  "--body-timeout",
  "1",
]);

const tools = [
  {
    type: "function",
    function: {
      name: "get_weather",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  },
];

function post(body: Record<string, unknown>) {
  return fetch(`${e2e.server.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify(body) });
}

const forced = (max_tokens: number, stream: boolean) => ({
  messages: [{ role: "user", content: "What is the weather in 北京?" }],
  tools,
  tool_choice: "required",
  max_tokens,
  temperature: 0,
  stream,
});

/** Budgets that cut the greedy forced answer before, inside and after its first call (seen on this model). */
const BUDGETS = [3, 8, 12, 20, 40];

test("a forced tool call cut by max_tokens: calls completed so far, no markup, finish_reason length", async () => {
  let keptACompletedCall = false;
  for (const budget of BUDGETS) {
    const res = await post(forced(budget, false));
    assert.equal(res.status, 200);
    const { choices } = (await res.json()) as {
      choices: {
        message: { content: string | null; tool_calls?: { function: { arguments: string } }[] };
        finish_reason: string;
      }[];
    };
    const { message, finish_reason } = choices[0];
    assert.ok(!message.content?.includes("tool_call"), `max_tokens ${budget}: ${message.content}`);
    assert.ok(!message.content?.includes('"name"'), `max_tokens ${budget}: ${message.content}`);
    assert.equal(finish_reason, "length", `max_tokens ${budget}`);
    for (const call of message.tool_calls ?? []) JSON.parse(call.function.arguments);
    if ((message.tool_calls ?? []).length > 0) keptACompletedCall = true;
  }
  assert.ok(keptACompletedCall, "some budget should end after a completed call");
});

test("a streamed forced call cut by max_tokens never sends its markup as text", async () => {
  for (const budget of BUDGETS) {
    const res = await post(forced(budget, true));
    const events = (await res.text())
      .split("\n\n")
      .filter((block) => block.startsWith("data: {"))
      .map(
        (block) =>
          JSON.parse(block.slice(6)) as {
            choices: { delta: { content?: string }; finish_reason: string | null }[];
          },
      );
    const text = events.map((e) => e.choices[0]?.delta.content ?? "").join("");
    assert.equal(text, "", `max_tokens ${budget}`);
    assert.equal(events.at(-1)?.choices[0].finish_reason, "length");
  }
});

test("an empty /v1/completions prompt is a 400 naming it, and the server keeps serving", async () => {
  const res = await fetch(`${e2e.server.url}/v1/completions`, {
    method: "POST",
    body: JSON.stringify({ prompt: "", max_tokens: 4 }),
  });
  assert.equal(res.status, 400);
  const { error } = (await res.json()) as { error: { code: string; param: string } };
  assert.deepEqual([error.code, error.param], ["invalid_value", "prompt"]);
  const ok = await fetch(`${e2e.server.url}/v1/completions`, {
    method: "POST",
    body: JSON.stringify({ prompt: "Hello", max_tokens: 4 }),
  });
  assert.equal(ok.status, 200);
  const metrics = await (await fetch(`${e2e.server.url}/metrics`)).text();
  assert.match(metrics, /edgellm_requests_total\{endpoint="completions",route="local",outcome="ok"\} 1/);
});

test("--body-timeout: a body that stops arriving gets 408 request_timeout", async () => {
  const { port, hostname } = new URL(e2e.server.url);
  const response = await new Promise<string>((resolve) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(
        'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{"messages"',
      );
    });
    let received = "";
    socket.on("data", (data) => {
      received += data;
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(received));
    setTimeout(() => socket.destroy(), 10_000);
  });
  assert.match(response, /^HTTP\/1\.1 408 /);
  assert.match(response, /"code":"request_timeout"/);
});
