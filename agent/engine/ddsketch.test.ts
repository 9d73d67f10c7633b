import { ok, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ALPHA, DDSketch } from "./ddsketch.js";

const exact = (sorted: number[], q: number) =>
  sorted[Math.floor(q * (sorted.length - 1))] as number;
const QS = [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1];

describe("DDSketch", () => {
  it("answers every quantile within 1 % of the exact value, over wide ranges, both signs and zero", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.double({ min: -1e6, max: 1e6, noNaN: true }),
            fc.double({ min: 1e-6, max: 10, noNaN: true }),
            fc.constant(0),
          ),
          { minLength: 1, maxLength: 500 },
        ),
        (values) => {
          const sketch = new DDSketch();
          for (const v of values) sketch.add(v);
          const sorted = [...values].sort((a, b) => a - b);
          for (const q of QS) {
            const e = exact(sorted, q);
            const got = sketch.quantile(q);
            ok(Math.abs(got - e) <= ALPHA * Math.abs(e) + 1e-9, `q=${q}: ${got} vs exact ${e}`);
          }
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });

  it("merges: two sketches combined answer like one sketch of all values", () => {
    const a = new DDSketch();
    const b = new DDSketch();
    const all = new DDSketch();
    for (let i = 1; i <= 1000; i++) {
      (i % 2 === 0 ? a : b).add(i * 1.7);
      all.add(i * 1.7);
    }
    a.merge(b);
    for (const q of QS) strictEqual(a.quantile(q), all.quantile(q));
  });

  it("stays bounded: a million values over 12 orders of magnitude fit in a few kilobytes", () => {
    const sketch = new DDSketch();
    for (let i = 0; i < 1_000_000; i++) sketch.add(10 ** ((i % 1200) / 100) * (1 + (i % 7) / 100));
    ok(sketch.bytes() < 24_000, `${sketch.bytes()} bytes`);
    strictEqual(sketch.count, 1_000_000);
  });
});
