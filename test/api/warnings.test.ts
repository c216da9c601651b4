import assert from "node:assert/strict";
import { test } from "node:test";
import { buildServer } from "../../src/api/server.js";
import type { GenerateRequest, ModelInfo, ModelProvider, StreamPart } from "../../src/provider/types.js";

// Warnings from every meta part add up, and reach the client as one x-edgellm-warning header each.

/** Two layers each report what they could not honour, in separate meta parts. */
class WarningProvider implements ModelProvider {
  readonly state = "ready" as const;
  listModels(): ModelInfo[] {
    return [{ id: "m", created: 0, ownedBy: "test", contextSize: 100 }];
  }
  resolveModel(): string {
    return "m";
  }
  async *stream(_request: GenerateRequest): AsyncGenerator<StreamPart> {
    yield { type: "meta", meta: { route: "outer", warnings: ["top_k=5 not sent"] } };
    yield { type: "meta", meta: { cache: "miss", warnings: ["min_p=0.2 not sent", "ünïcode"] } };
    yield { type: "text-delta", text: "hi" };
    yield {
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 1, completionTokens: 1, cachedTokens: 0 },
    };
  }
}

const expected = ["top_k=5 not sent", "min_p=0.2 not sent", encodeURIComponent("ünïcode")];

test("warnings from several meta parts are all sent, as headers and in the body", async () => {
  const app = await buildServer({ provider: new WarningProvider(), webRoot: false });
  try {
    const payload = { messages: [{ role: "user", content: "hi" }] };
    const whole = await app.inject({ method: "POST", url: "/v1/chat/completions", payload });
    assert.equal(whole.statusCode, 200);
    assert.deepEqual(whole.headers["x-edgellm-warning"], expected);
    assert.deepEqual(whole.json().edgellm, {
      route: "outer",
      cache: "miss",
      warnings: ["top_k=5 not sent", "min_p=0.2 not sent", "ünïcode"],
    });
    assert.equal(whole.headers["x-edgellm-cache"], "miss", "later facts still merge");

    const streamed = await app.inject({
      method: "POST",
      url: "/v1/completions",
      payload: { prompt: "hi", stream: true },
    });
    assert.equal(streamed.statusCode, 200);
    assert.deepEqual(streamed.headers["x-edgellm-warning"], expected);
    assert.match(streamed.body, /data: \[DONE\]/);
  } finally {
    await app.close();
  }
});
