import assert from "node:assert/strict";
import { test } from "node:test";
import { ChatTemplate } from "../../src/engine/chat-template.js";
import { ToolCallParser, type ToolParseEvent } from "../../src/engine/tool-calls.js";
import { QWEN25_CHAT_TEMPLATE } from "../../src/models/qwen-template.js";

function collect(events: ToolParseEvent[]) {
  let text = "";
  const calls: { name: string; arguments: string }[] = [];
  for (const e of events) {
    if (e.type === "text") text += e.text;
    else if (e.type === "call-start") calls[e.index] = { name: e.name, arguments: "" };
    else calls[e.index].arguments += e.text;
  }
  return { text, calls };
}

const OUTPUT =
  'Let me check. <tool_call>\n{"name": "get_weather", "arguments": {"city": "北京", "n": {"a": [1]}}}\n</tool_call>\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>';

test("Qwen <tool_call> blocks become calls, whatever the chunking", () => {
  const whole = new ToolCallParser(() => "id");
  const expected = collect([...whole.push(OUTPUT), ...whole.flush()]);
  assert.equal(expected.text, "Let me check. ");
  assert.deepEqual(expected.calls, [
    { name: "get_weather", arguments: '{"city": "北京", "n": {"a": [1]}}' },
    { name: "get_time", arguments: "{}" },
  ]);
  const chars = [...OUTPUT];
  for (const size of [1, 2, 3, 5, 7]) {
    const parser = new ToolCallParser(() => "id");
    const events: ToolParseEvent[] = [];
    for (let i = 0; i < chars.length; i += size)
      events.push(...parser.push(chars.slice(i, i + size).join("")));
    events.push(...parser.flush());
    assert.deepEqual(collect(events), expected, `chunks of ${size}`);
    // Text that might open a call is never released early.
    assert.ok(!events.some((e) => e.type === "text" && e.text.includes("<")));
  }
});

test("text without calls passes through, including a lone '<'", () => {
  const parser = new ToolCallParser();
  const events = [...parser.push("a < b and <tool"), ...parser.push("s>"), ...parser.flush()];
  assert.deepEqual(collect(events), { text: "a < b and <tools>", calls: [] });
});

test("a block that is not a call stays text; arguments-first order still parses", () => {
  const bad = new ToolCallParser();
  assert.equal(
    collect([...bad.push("<tool_call>\nnope\n</tool_call>"), ...bad.flush()]).text,
    "<tool_call>\nnope\n</tool_call>",
  );
  const swapped = new ToolCallParser();
  const result = collect([
    ...swapped.push('<tool_call>\n{"arguments": {"x": 1}, "name": "f"}\n</tool_call>'),
    ...swapped.flush(),
  ]);
  assert.deepEqual(result.calls, [{ name: "f", arguments: '{"x":1}' }]);
});

test("the Qwen2.5 template renders tools, assistant tool_calls and tool results as the model was trained", () => {
  const template = new ChatTemplate(QWEN25_CHAT_TEMPLATE, { bosToken: "", eosToken: "<|im_end|>" });
  const prompt = template.render(
    [
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: "",
        toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"北京"}' }],
      },
      { role: "tool", content: '{"t": 21}', toolCallId: "call_1" },
    ],
    { tools: [{ name: "get_weather", parameters: { type: "object" } }] },
  );
  assert.match(
    prompt,
    /<tools>\n\{"type": "function", "function": \{"name": "get_weather", "parameters": \{"type": "object"\}\}\}\n<\/tools>/,
  );
  assert.ok(
    prompt.includes(
      '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京"}}\n</tool_call><|im_end|>',
    ),
  );
  assert.ok(prompt.includes('<|im_start|>user\n<tool_response>\n{"t": 21}\n</tool_response><|im_end|>'));
  assert.ok(prompt.endsWith("<|im_start|>assistant\n"));
});

/** Parses `output` fed in chunks of `size` characters, then flushed as when generation stops there. */
function parseCut(output: string, size = 3) {
  const parser = new ToolCallParser(() => "id");
  const events: ToolParseEvent[] = [];
  const chars = [...output];
  for (let i = 0; i < chars.length; i += size) events.push(...parser.push(chars.slice(i, i + size).join("")));
  events.push(...parser.flush());
  return { ...collect(events), count: parser.callCount, events };
}

test("a call cut inside its header is dropped, never released as text", () => {
  for (const cut of [
    "<tool_call>",
    "<tool_call>\n",
    '<tool_call>\n{"name": "get_weather",',
    '<tool_call>\n{"na',
  ]) {
    for (const size of [1, 4, 100]) {
      const result = parseCut(`Checking. ${cut}`, size);
      assert.deepEqual(
        { text: result.text, calls: result.calls, count: result.count },
        { text: "Checking. ", calls: [], count: 0 },
        `${JSON.stringify(cut)} in chunks of ${size}`,
      );
    }
  }
});

test("a call cut inside its arguments is not counted; the calls completed before it are", () => {
  const first = '<tool_call>\n{"name": "get_time", "arguments": {"zone": "UTC"}}\n</tool_call>\n';
  for (const cut of [
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "北',
    '<tool_call>\n{"name": "f", "arguments": {"a": {"b": 1}',
  ]) {
    const result = parseCut(first + cut);
    assert.equal(result.text, "");
    assert.equal(result.count, 1, cut);
    assert.deepEqual(result.calls[0], { name: "get_time", arguments: '{"zone": "UTC"}' });
    // What was released of the cut call is a prefix of its arguments, never markup.
    const written = cut.slice(cut.indexOf('"arguments": ') + '"arguments": '.length);
    assert.ok(written.startsWith(result.calls[1]?.arguments ?? ""), result.calls[1]?.arguments);
  }
});

test("a call whose arguments are complete counts even when its closing tag was cut", () => {
  const cases: [string, string][] = [
    ['<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool', '{"a": 1}'],
    ['<tool_call>\n{"name": "f", "arguments": {"a": 1}}', '{"a": 1}'],
    // The held `}` closes the arguments here, not the call object: it must not be lost.
    ['<tool_call>\n{"name": "f", "arguments": {"a": {"b": 1}}', '{"a": {"b": 1}}'],
    ['<tool_call>\n{"name": "f", "arguments": {"a": 1}', '{"a": 1}'],
  ];
  for (const [output, args] of cases) {
    for (const size of [1, 2, 5, 100]) {
      const result = parseCut(output, size);
      assert.deepEqual(
        { text: result.text, calls: result.calls, count: result.count },
        { text: "", calls: [{ name: "f", arguments: args }], count: 1 },
        `${output} in chunks of ${size}`,
      );
    }
  }
});

test("an unclosed <tool_call> that is not the start of a call stays text", () => {
  const result = parseCut("see <tool_call> in the docs", 2);
  assert.deepEqual(
    { text: result.text, count: result.count },
    { text: "see <tool_call> in the docs", count: 0 },
  );
});
