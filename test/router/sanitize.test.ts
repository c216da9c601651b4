import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";
import { toErrorResponse } from "../../src/api/errors.js";
import { sanitizeUpstreamText } from "../../src/router/sanitize.js";
import { toUpstreamError } from "../../src/router/upstream-errors.js";

const KEY = "dsk-9f8e7d6c5b4a39281706f5e4d3c2b1a0";

test("configured keys and key-shaped text are masked", () => {
  const cases: [string, string][] = [
    [`invalid key ${KEY} given`, "invalid key [redacted] given"],
    [`key starts ${KEY.slice(0, 14)}*** and is wrong`, "key starts [redacted]*** and is wrong"],
    ["Incorrect API key provided: sk-proj-AbCdEf123456.", "Incorrect API key provided: [redacted]."],
    ["got Authorization: Bearer abc.def-123", "got Authorization: [redacted] [redacted]"],
    ["header bearer eyJhbGciOi.x", "header bearer [redacted]"],
    ["GET /v1/models?api_key=s3cr3t&x=1", "GET /v1/models?api_key=[redacted]&x=1"],
    ['{"api_key": "hunter2hunter2", "model": "qwen"}', '{"api_key": "[redacted]", "model": "qwen"}'],
    ["x-api-key: abc123def456", "x-api-key: [redacted]"],
    ["client_secret=topsecret", "client_secret=[redacted]"],
    ["token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_ok", "token [redacted]"],
    ["id 0123456789abcdef0123456789abcdef01234567 denied", "id [redacted] denied"],
    ["cred AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/== end", "cred [redacted] end"],
    ["aws AKIAIOSFODNN7EXAMPLE here", "aws [redacted] here"],
    ["google AIzaSyA-1234567890abcdefghijklmnopqrstu", "google [redacted]"],
  ];
  for (const [input, expected] of cases)
    assert.equal(sanitizeUpstreamText(input, [KEY], 200), expected, input);
});

test("ordinary error text survives, collapsed and cut short", () => {
  for (const text of [
    "The model 'qwen-max' does not exist or you do not have access to it.",
    "model deepseek-r1-distill-qwen-32b-instruct is overloaded",
    "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1.",
    "max_tokens must be at most 8192; prompt_tokens 12",
    "POST https://api.example.com/v1/chat/completions failed",
  ])
    assert.equal(sanitizeUpstreamText(text, [KEY], 200), text);
  assert.equal(sanitizeUpstreamText("line one\n\n\tline\u0000two  "), "line one line two");
  const long = sanitizeUpstreamText(`${"word ".repeat(100)}${KEY}`, [KEY], 60);
  assert.equal(long.length, 60);
  assert.ok(long.endsWith("..."));
  // Masking comes before cutting, so a cut cannot leave the start of a key behind.
  const edge = sanitizeUpstreamText(`${"x".repeat(40)} ${KEY}`, [KEY], 50);
  assert.doesNotMatch(edge, /dsk-9f8e/);
});

test("an upstream error carries a short summary for route reasons and a sanitized excerpt", () => {
  const echoed = `Bad credentials: Bearer ${KEY}; request was ${"{...} ".repeat(60)}`;
  const error = toUpstreamError(
    "qwen",
    OpenAI.APIError.generate(401, { error: { message: echoed } }, undefined, new Headers()),
    { secrets: [KEY] },
  );
  assert.equal(error.code, "upstream_auth");
  assert.equal(error.summary, "HTTP 401");
  assert.match(error.message, /^upstream 'qwen' failed: HTTP 401: Bad credentials: Bearer \[redacted\]; /);
  assert.ok(error.message.length < 160, error.message);
  assert.equal(error.cause, undefined, "the SDK error, body and headers included, is not kept");
  assert.doesNotMatch(JSON.stringify({ ...error, message: error.message, stack: error.stack }), /9f8e7d/);
});

test("an upstream 429 is a rate_limit_error with its Retry-After; a 400 is the request's fault", () => {
  const limited = (headers: Record<string, string>) =>
    toUpstreamError(
      "qwen",
      OpenAI.APIError.generate(429, { error: { message: "slow down" } }, undefined, new Headers(headers)),
    );
  const said = limited({ "retry-after": "7" });
  assert.equal(said.status, 429);
  assert.equal(said.type, "rate_limit_error");
  assert.equal(said.code, "upstream_rate_limited");
  assert.equal(said.retryAfterSeconds, 7);
  assert.equal(limited({ "retry-after-ms": "1500" }).retryAfterSeconds, 2);
  const date = new Date(Date.now() + 30_000).toUTCString();
  assert.ok(Math.abs((limited({ "retry-after": date }).retryAfterSeconds ?? 0) - 30) <= 1);
  assert.equal(limited({}).retryAfterSeconds, 5, "a sensible default");
  assert.equal(limited({ "retry-after": "soon" }).retryAfterSeconds, 5);
  const response = toErrorResponse(said, { bodyLimit: 1 });
  assert.equal(response.status, 429);
  assert.equal(response.headers["retry-after"], "7");
  assert.equal(response.body.error.type, "rate_limit_error");

  const bad = toUpstreamError(
    "qwen",
    OpenAI.APIError.generate(400, { error: { message: "bad field" } }, undefined, new Headers()),
  );
  assert.equal(bad.code, "upstream_bad_request");
  assert.equal(bad.status, 400);
  assert.equal(bad.type, "invalid_request_error");
  assert.equal(bad.retryAfterSeconds, undefined);
  assert.equal(toErrorResponse(bad, { bodyLimit: 1 }).headers["retry-after"], undefined);
});
