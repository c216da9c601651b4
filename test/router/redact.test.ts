import assert from "node:assert/strict";
import { test } from "node:test";
import { redactText } from "../../src/router/redact.js";

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
