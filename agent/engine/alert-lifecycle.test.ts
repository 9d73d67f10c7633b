import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { LIFECYCLE_SLOTS, lifecycleStep, TRANSITIONS } from "./alert-lifecycle.js";

describe("alert lifecycle", () => {
  it("has exactly these transitions", () => {
    deepStrictEqual(TRANSITIONS, {
      idle: { fire: ["open", "open"], quiet: ["idle", "none"], "quiet-done": ["idle", "none"] },
      open: {
        fire: ["open", "suppress"],
        quiet: ["open", "none"],
        "quiet-done": ["idle", "resolve"],
      },
    });
  });

  it("opens, suppresses re-fires, waits out cooldown and clearAfter, resolves, and opens again", () => {
    const plan = { cooldownMs: 10, cooldownReadings: 0, clearAfterMs: 3 };
    const slots = new Float64Array(LIFECYCLE_SLOTS);
    const steps: [number, boolean][] = [
      [0, false], // idle, quiet
      [1, true], // opens
      [2, true], // suppressed
      [5, false], // quiet, but within the cooldown
      [9, true], // suppressed, the last fire now 9
      [11, false], // cooldown over, but only 2 since the last fire
      [12, false], // 3 since the last fire: resolved
      [13, false],
      [14, true], // opens again
    ];
    deepStrictEqual(
      steps.map(([ts, fired]) => [ts, lifecycleStep(plan, slots, 0, ts, fired)]),
      [
        [0, "none"],
        [1, "open"],
        [2, "suppress"],
        [5, "none"],
        [9, "suppress"],
        [11, "none"],
        [12, "resolve"],
        [13, "none"],
        [14, "open"],
      ],
    );
  });

  it("with cooldownReadings, stays open for that many readings after the opening one", () => {
    const plan = { cooldownMs: 0, cooldownReadings: 2, clearAfterMs: 0 };
    const slots = new Float64Array(LIFECYCLE_SLOTS);
    deepStrictEqual(
      [true, false, false, false, true].map((fired, ts) =>
        lifecycleStep(plan, slots, 0, ts, fired),
      ),
      ["open", "none", "none", "resolve", "open"],
    );
  });
});
