import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay, type LinkEvent, type LinkState, TokenBucket, transition } from "./link.js";

describe("link-state machine", () => {
  const table: [LinkState, LinkEvent, LinkState][] = [
    ["offline", "connect", "connecting"],
    ["offline", "connected", "offline"],
    ["offline", "drained", "offline"],
    ["connecting", "connected", "draining"],
    ["connecting", "failed", "offline"],
    ["connecting", "disconnected", "offline"],
    ["connecting", "drained", "connecting"],
    ["draining", "drained", "live"],
    ["draining", "backlog", "draining"],
    ["draining", "disconnected", "offline"],
    ["draining", "connect", "draining"],
    ["live", "backlog", "draining"],
    ["live", "disconnected", "offline"],
    ["live", "drained", "live"],
    ["live", "failed", "live"],
  ];
  for (const [from, event, to] of table) {
    it(`${from} --${event}--> ${to}`, () => strictEqual(transition(from, event), to));
  }
});

describe("backoff", () => {
  it("grows exponentially to a cap, with full jitter", () => {
    deepStrictEqual(
      [0, 1, 2, 3, 10, 40].map((a) => backoffDelay(a, () => 0.999_999)),
      [499, 999, 1_999, 3_999, 59_999, 59_999],
    );
    strictEqual(
      backoffDelay(5, () => 0),
      0,
    );
  });
});

describe("token bucket", () => {
  it("lets a burst through, then paces to the rate", () => {
    const bucket = new TokenBucket(1_000, 2_000, 0);
    strictEqual(bucket.take(1_500, 0), 0);
    strictEqual(bucket.take(1_000, 0), 500); // 500 tokens left: wait 0.5 s for 500 more
    strictEqual(bucket.take(1_000, 500), 0);
    ok(bucket.take(5_000, 500) > 0, "larger than the burst: waits for a full bucket");
    strictEqual(bucket.take(5_000, 2_500), 0);
  });
});
