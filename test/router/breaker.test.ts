import assert from "node:assert/strict";
import { test } from "node:test";
import { CircuitBreaker } from "../../src/router/breaker.js";
import { pickReplica } from "../../src/router/replicas.js";

test("closed -> open after N failures -> half-open after the cooldown, one probe at a time", () => {
  let now = 0;
  const breaker = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000, now: () => now });
  breaker.onFailure();
  breaker.onFailure();
  breaker.onSuccess(); // a success resets the count
  breaker.onFailure();
  breaker.onFailure();
  assert.equal(breaker.state, "closed");
  breaker.onFailure();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.tryAcquire(), false);
  now = 999;
  assert.equal(breaker.allowsRequests, false);
  now = 1000;
  assert.equal(breaker.state, "half-open");
  assert.equal(breaker.tryAcquire(), true);
  assert.equal(breaker.tryAcquire(), false, "only one probe");
  breaker.onFailure();
  assert.equal(breaker.state, "open", "a failed probe reopens at once");
  now = 2000;
  assert.equal(breaker.tryAcquire(), true);
  breaker.onSuccess();
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.tryAcquire(), true);
});

test("replica choice: least outstanding, affinity within slack, skips unavailable and tried", () => {
  const r = (index: number, outstanding: number, available = true) => ({ index, outstanding, available });
  const replicas = [r(0, 0), r(1, 0), r(2, 0)];
  const picks = new Set(
    Array.from({ length: 20 }, (_, i) => pickReplica(replicas, `conversation ${i}`, new Set(), 0)?.index),
  );
  assert.equal(picks.size, 3, "keys spread over replicas");
  const key = "conversation 7";
  const home = pickReplica(replicas, key, new Set(), 0);
  assert.equal(home?.affinity, true);
  assert.equal(pickReplica(replicas, key, new Set(), 5)?.index, home?.index, "stable");
  const busy = replicas.map((x) => (x.index === home?.index ? r(x.index, 3) : x));
  assert.notEqual(pickReplica(busy, key, new Set(), 0)?.index, home?.index, "too busy: least loaded wins");
  const down = replicas.map((x) => (x.index === home?.index ? r(x.index, 0, false) : x));
  assert.notEqual(pickReplica(down, key, new Set(), 0)?.index, home?.index);
  assert.equal(pickReplica([r(0, 0), r(1, 5)], "", new Set(), 1)?.index, 0);
  assert.equal(pickReplica([r(0, 0), r(1, 0)], key, new Set([0]), 0)?.index, 1, "a retry goes elsewhere");
  assert.equal(pickReplica([r(0, 0, false)], key, new Set(), 0), undefined);
});
