import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import { toErrorResponse } from "../../src/api/errors.js";
import { buildServer } from "../../src/api/server.js";
import { ContextOverflowError } from "../../src/provider/errors.js";
import { upstreamContextOverflow } from "../../src/router/upstream-errors.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { chat, collect, routerFor } from "./harness.js";

// An upstream's "prompt too long" must reach the client as ours: 400 context_length_exceeded with OpenAI's
// wording, which LangChain's ContextOverflowError (and others) recognise by text.

const apiError = (status: number, error: Record<string, unknown>) =>
  OpenAI.APIError.generate(status, { error }, undefined, new Headers());

test("an upstream 400 that says the context overflowed becomes a ContextOverflowError", () => {
  const cases = [
    // OpenAI and vLLM: the code, or the wording alone.
    {
      message:
        "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion).",
      code: "context_length_exceeded",
      type: "invalid_request_error",
    },
    { message: "This model's maximum context length is 2048 tokens.", type: "BadRequestError" },
    // llama-server: its own type, with the numbers beside the message.
    {
      message: "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it",
      type: "exceed_context_size_error",
      n_prompt_tokens: 5000,
      n_ctx: 4096,
    },
  ];
  for (const body of cases) {
    const overflow = upstreamContextOverflow("cloud", apiError(400, body));
    assert.ok(overflow instanceof ContextOverflowError, body.message);
    const response = toErrorResponse(overflow, { bodyLimit: 1 });
    assert.equal(response.status, 400);
    assert.equal(response.body.error.type, "invalid_request_error");
    assert.equal(response.body.error.code, "context_length_exceeded");
    assert.equal(response.body.error.param, "messages");
    assert.match(response.body.error.message, /maximum context length/);
  }
  const llamaServer = upstreamContextOverflow("cloud", apiError(400, cases[2]));
  assert.match(
    llamaServer?.message ?? "",
    /maximum context length is 4096 tokens\. However, you requested 5000/,
  );

  assert.equal(upstreamContextOverflow("cloud", apiError(400, { message: "bad field 'foo'" })), undefined);
  assert.equal(
    upstreamContextOverflow("cloud", apiError(500, { message: "maximum context length", code: "x" })),
    undefined,
    "a 5xx is the upstream's failure, whatever it says",
  );
});

let cloud: FakeUpstream;
before(async () => {
  cloud = await new FakeUpstream().start();
});
after(() => cloud.stop());

const upstreams = () => ({ cloud: { baseUrl: cloud.url, retries: 0, firstByteTimeoutMs: 2000 } });

test("an upstream overflow falls back to local when the prompt fits there, else is a 400 context_length_exceeded", async () => {
  cloud.script = [{ kind: "status", status: 400, code: "context_length_exceeded" }];
  const { router } = routerFor({ upstreams: upstreams() });
  // The fake engine's context holds 4096 characters: a short prompt fits, and the local model answers.
  const fits = await collect(router, chat("cloud", "hi"));
  assert.equal(fits.meta.route, "local");
  assert.match(fits.meta.routeReason ?? "", /fallback: upstream 'cloud' failed: context_length_exceeded/);

  const app = await buildServer({ provider: router });
  const res = await app.inject({
    method: "POST",
    url: "/v1/chat/completions",
    payload: { model: "cloud", messages: [{ role: "user", content: "x".repeat(5000) }] },
  });
  await app.close();
  router.dispose();
  assert.equal(res.statusCode, 400, res.body);
  const { error } = res.json();
  assert.equal(error.code, "context_length_exceeded");
  assert.equal(error.type, "invalid_request_error");
  assert.match(error.message, /^This model's maximum context length was exceeded\. .*upstream 'cloud'/);
});
