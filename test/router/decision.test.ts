import assert from "node:assert/strict";
import { test } from "node:test";
import { ContextOverflowError, QueueFullError } from "../../src/provider/errors.js";
import { DEFAULT_SAMPLING, type GenerateRequest } from "../../src/provider/types.js";
import { cascadeTarget, type DecisionSettings, decide, spillover } from "../../src/router/decision.js";
import { ROUTE_FILTERS, type RouteSnapshot, refusal } from "../../src/router/filters/index.js";

// The decision and its filters are pure: a snapshot in a line states any situation.
const settings: DecisionSettings = {
  upstreams: ["cloud", "fleet"],
  threshold: 0.5,
  overflow: true,
  cascade: true,
};

function snapshot(
  change: Partial<RouteSnapshot> = {},
  upstream: { available?: boolean; modelProblem?: string } = {},
) {
  return {
    cloud: true,
    budget: { exhausted: false, spentToday: 0 },
    upstreams: new Map([
      ["cloud", { available: true, ...upstream }],
      ["fleet", { available: true }],
    ]),
    ...change,
  } satisfies RouteSnapshot;
}

function ask(model: string, content: string, allowCloud?: boolean): GenerateRequest {
  return {
    model,
    prompt: { kind: "chat", messages: [{ role: "user", content }] },
    sampling: DEFAULT_SAMPLING,
    ...(allowCloud !== undefined && { routing: { allowCloud } }),
  };
}

const HARD = "Prove that there are infinitely many primes of the form 4k+3, rigorously.";

test("each filter refuses a candidate for its own reason, privacy first", () => {
  const spent = { exhausted: true, spentToday: 5.2, daily: 5, currency: "CNY" };
  const cases: [RouteSnapshot, boolean | undefined, string | undefined][] = [
    [snapshot(), undefined, undefined],
    [snapshot({ cloud: false }), undefined, "no-cloud: the cloud is disabled on this server"],
    [snapshot(), false, "no-cloud: the request does not allow the cloud"],
    [snapshot({ budget: spent }), undefined, "budget: the daily cloud budget is spent (5.2000 of 5CNY)"],
    [
      snapshot({}, { available: false }),
      undefined,
      "circuit: upstream 'cloud' is unavailable (circuit open or unhealthy)",
    ],
    [
      snapshot({}, { modelProblem: "upstream 'cloud' has no model 'x'" }),
      undefined,
      "no-model: upstream 'cloud' has no model 'x'",
    ],
    // Several at once: the first in ROUTE_FILTERS order is the one reported.
    [
      snapshot({ cloud: false, budget: spent }, { available: false }),
      undefined,
      "no-cloud: the cloud is disabled on this server",
    ],
  ];
  for (const [state, allowCloud, expected] of cases) {
    const refused = refusal({ upstream: "cloud", hints: { allowCloud } }, state, ROUTE_FILTERS);
    assert.equal(refused && `${refused.kind}: ${refused.why}`, expected);
  }
});

test("the decision names the route, and says why another was refused", () => {
  assert.deepEqual(decide(ask("local-model", "hi"), snapshot(), settings), {
    kind: "requested",
    reason: "requested local",
  });
  assert.deepEqual(decide(ask("fleet", "hi"), snapshot(), settings), {
    upstream: "fleet",
    kind: "requested",
    reason: "requested 'fleet'",
  });
  assert.deepEqual(decide(ask("cloud", "hi"), snapshot({}, { available: false }), settings), {
    kind: "circuit",
    reason: "requested 'cloud', but upstream 'cloud' is unavailable (circuit open or unhealthy)",
  });
  const hard = decide(ask("auto", HARD), snapshot(), settings);
  assert.equal(hard.upstream, "cloud", "auto goes to the first upstream by default");
  assert.equal(
    decide(ask("auto", HARD), snapshot(), { ...settings, autoUpstream: "fleet" }).upstream,
    "fleet",
  );
  const kept = decide(ask("auto", HARD, false), snapshot(), settings);
  assert.equal(kept.upstream, undefined);
  assert.match(kept.reason, /^auto: difficulty .* >= 0\.50 .*, but the request does not allow the cloud$/);
  const easy = decide(ask("auto", "hi"), snapshot(), settings);
  assert.equal(easy.upstream, undefined);
  assert.equal(typeof easy.autoDifficulty, "number");
});

test("spillover and cascade only go where the filters allow", () => {
  const local = decide(ask("local-model", "hi"), snapshot(), settings);
  const full = new QueueFullError();
  assert.equal(spillover(full, local, ask("local-model", "hi"), snapshot(), settings)?.kind, "overflow");
  assert.equal(
    spillover(full, local, ask("local-model", "hi"), snapshot(), { ...settings, overflow: false }),
    undefined,
  );
  assert.equal(spillover(full, local, ask("local-model", "hi", false), snapshot(), settings), undefined);
  // Too long for the local context: only an "auto" request goes up.
  const tooLong = new ContextOverflowError(() => "too long");
  assert.equal(spillover(tooLong, local, ask("local-model", "hi"), snapshot(), settings), undefined);
  const auto = decide(ask("auto", "hi"), snapshot(), settings);
  assert.match(
    spillover(tooLong, auto, ask("auto", "hi"), snapshot(), settings)?.reason ?? "",
    /does not fit/,
  );

  assert.equal(cascadeTarget(auto, ask("auto", "hi"), snapshot(), settings), "cloud");
  assert.equal(
    cascadeTarget(local, ask("local-model", "hi"), snapshot(), settings),
    undefined,
    "named routes never",
  );
  assert.equal(
    cascadeTarget(auto, ask("auto", "hi"), snapshot({}, { available: false }), settings),
    undefined,
  );
});
