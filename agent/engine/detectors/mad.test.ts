import { ok } from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { MadPlan } from "../../compile/plan.js";
import { mad } from "./mad.js";
import { newVerdict } from "./verdict.js";

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? (s[h] as number) : ((s[h - 1] as number) + (s[h] as number)) / 2;
};

describe("mad: the median and MAD kept incrementally", () => {
  it("match a from-scratch computation over the window before each reading", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 40 }),
        fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 200 }),
        (n, values) => {
          const plan: MadPlan = {
            type: "mad",
            n,
            threshold: 3.5,
            minSamples: 2,
            cooldownMs: 0,
            cooldownReadings: 0,
            clearAfterMs: 0,
            severity: "warning",
          };
          const slots = new Float64Array(mad.slots(plan));
          const v = newVerdict();
          values.forEach((x, i) => {
            mad.judge(plan, slots, 0, { sensor: "s", ts: i, value: x }, false, v);
            const window = values.slice(Math.max(0, i - n), i);
            if (window.length < 2) return;
            const m = median(window);
            const spread = median(window.map((w) => Math.abs(w - m)));
            ok(v.mean === m, `median ${v.mean} ≠ ${m} at ${i}`);
            if (spread > 0) ok(Math.abs(v.stddev - spread / 0.6745) < 1e-9, `MAD at ${i}`);
          });
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });
});
