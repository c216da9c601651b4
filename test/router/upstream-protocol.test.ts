import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { UpstreamError } from "../../src/provider/errors.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { chat, collect, collectUntilError, routerFor } from "./harness.js";

// What the upstream side of the codec tells the router: chunks it cannot read, and fields it never sent.

let cloud: FakeUpstream;

before(async () => {
  cloud = await new FakeUpstream().start();
});

after(async () => {
  await cloud.stop();
});

const setup = () =>
  routerFor({ upstreams: { cloud: { baseUrl: cloud.url, retries: 0, firstByteTimeoutMs: 2000 } } });

test("a chunk that is not an OpenAI chunk mid-stream ends the stream with upstream_stream_broken", async () => {
  cloud.script = [{ kind: "malformed", chunks: 2 }];
  const { router } = setup();
  const { parts, error } = await collectUntilError(router, chat("cloud", "hi"));
  assert.ok(error instanceof UpstreamError, String(error));
  assert.equal(error.code, "upstream_stream_broken");
  assert.match(error.message, /not an OpenAI chunk \(choices\[0\]\.delta\.content: /);
  assert.ok(parts.some((p) => p.type === "text-delta" && p.text === "part1 "));
  router.dispose();
});

test("one before any text is a failure before the first byte: the request falls back to local", async () => {
  cloud.script = [{ kind: "malformed", chunks: 0 }];
  const { router } = setup();
  const { meta, text } = await collect(router, chat("cloud", "hi"));
  assert.equal(meta.route, "local");
  assert.match(
    meta.routeReason ?? "",
    /^fallback: upstream 'cloud' failed: a chunk that is not an OpenAI chunk/,
  );
  assert.equal(text, "local answer");
  router.dispose();
});

test("sampling fields the upstream API has no field for come back as warnings on the meta part", async () => {
  cloud.script = [{ kind: "ok" }];
  const { router } = setup();
  const plain = await collect(router, chat("cloud", "hi"));
  assert.equal(plain.meta.route, "cloud");
  assert.equal(plain.meta.warnings, undefined, "defaults are not worth a warning");
  const sampling = { ...chat("cloud", "hi").sampling, topK: 5, repetitionPenalty: 1.2 };
  const tuned = await collect(router, chat("cloud", "hi", { sampling }));
  assert.deepEqual(tuned.meta.warnings, [
    "top_k=5 not sent: the upstream API has no such field",
    "repetition_penalty=1.2 not sent: the upstream API has no such field",
  ]);
  const sent = cloud.requests.at(-1)?.body ?? {};
  assert.ok(!("top_k" in sent) && !("repetition_penalty" in sent));
  router.dispose();
});
