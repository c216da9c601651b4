import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_SAMPLING, type GenerateRequest } from "../../src/provider/types.js";
import { redactRequest, redactText } from "../../src/router/redact.js";

test("e-mail addresses, phone numbers and ID numbers are replaced by placeholders", () => {
  const cases: [string, string][] = [
    ["write to li.lei+work@mail.example.cn today", "write to [EMAIL] today"],
    ["我的手机号是13812345678，请联系", "我的手机号是[PHONE]，请联系"],
    ["call +86 138 1234 5678 now", "call [PHONE] now"],
    ["call 138-1234-5678 now", "call [PHONE] now"],
    ["身份证号 11010519491231002X 已登记", "身份证号 [ID_NUMBER] 已登记"],
    ["身份证：440308199901011234。", "身份证：[ID_NUMBER]。"],
    ["SSN 123-45-6789", "SSN [ID_NUMBER]"],
    ["card 4111 1111 1111 1111 ok", "card [CARD_NUMBER] ok"],
    ["office (415) 555-2671", "office [PHONE]"],
    ["intl +44 20 7946 0958", "intl [PHONE]"],
  ];
  for (const [input, expected] of cases) assert.equal(redactText(input).text, expected, input);
});

test("ordinary numbers, dates and code survive", () => {
  for (const text of [
    "The answer is 42 and pi is 3.14159.",
    "Order 2024-05-01, total 1234.50 yuan",
    "version 1.2.3, port 8080, year 2025",
    "for (let i = 0; i < 100; i++) x += i;",
    "a 16-digit number that fails Luhn: 1234567812345678",
  ]) {
    assert.equal(redactText(text).text, text);
  }
  assert.deepEqual(redactText("a@b.co and c@d.org, 13900001111").counts, { EMAIL: 2, PHONE: 1 });
});

test("a redacted chat keeps its tools and tool choice, and tool-call arguments are redacted too", () => {
  const tools = [
    { name: "send_mail", parameters: { type: "object", properties: { to: { type: "string" } } } },
  ];
  const request: GenerateRequest = {
    model: "cloud",
    prompt: {
      kind: "chat",
      tools,
      messages: [
        { role: "user", content: "Mail zhang.san@example.com please" },
        {
          role: "assistant",
          content: "",
          toolCalls: [
            {
              id: "call_1",
              name: "send_mail",
              arguments: '{"to": "zhang.san@example.com", "phone": 13812345678, "cc": ["li@example.org"]}',
            },
          ],
        },
        { role: "tool", toolCallId: "call_1", content: "sent to zhang.san@example.com" },
      ],
    },
    sampling: DEFAULT_SAMPLING,
    toolChoice: { name: "send_mail" },
    parallelToolCalls: false,
  };
  const { request: out, redactions } = redactRequest(request);
  assert.ok(out.prompt.kind === "chat");
  assert.deepEqual(out.prompt.tools, tools);
  assert.deepEqual(out.toolChoice, { name: "send_mail" });
  assert.equal(out.parallelToolCalls, false);
  const call = out.prompt.messages[1].toolCalls?.[0];
  assert.equal(call?.id, "call_1");
  assert.equal(call?.name, "send_mail");
  // Still JSON, with each value redacted where it stood.
  assert.deepEqual(JSON.parse(call?.arguments ?? ""), { to: "[EMAIL]", phone: "[PHONE]", cc: ["[EMAIL]"] });
  assert.equal(out.prompt.messages[2].content, "sent to [EMAIL]");
  assert.equal(out.prompt.messages[2].toolCallId, "call_1");
  assert.equal(redactions, 5);
  // Arguments that are not JSON are redacted as text.
  const broken = redactRequest({
    ...request,
    prompt: {
      kind: "chat",
      messages: [
        { role: "assistant", content: "", toolCalls: [{ id: "c", name: "f", arguments: '{"to": "a@b.com' }] },
      ],
    },
  });
  assert.ok(broken.request.prompt.kind === "chat");
  assert.equal(broken.request.prompt.messages[0].toolCalls?.[0].arguments, '{"to": "[EMAIL]');
});
