import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { compileRule } from "../../rules/load.js";
import { Engine } from "./engine.js";
import type { AggregateResult, EngineOutput, Reading } from "./types.js";

const T0 = 1_700_000_000_000;
const tenSeconds = compileRule({ name: "r", window: { type: "tumbling", size: "10s" } });
const readings: Reading[] = [0, 4_000, 9_000, 12_000, 15_000, 21_000, 33_000].map((offset, i) => ({
  sensor: i % 2 === 0 ? "a/t" : "b/t",
  ts: T0 + offset,
  value: i * 1.5,
}));

function feed(engine: Engine, input: readonly Reading[]): EngineOutput[] {
  const out: EngineOutput[] = [];
  for (const r of input) engine.process(r, out);
  return out;
}

describe("engine snapshot and restore", () => {
  it("resumes after a restart exactly as if it had never stopped", () => {
    const uninterrupted = feed(new Engine("dev", [tenSeconds]), readings);
    for (let cut = 0; cut <= readings.length; cut++) {
      const before = new Engine("dev", [tenSeconds]);
      const out = feed(before, readings.slice(0, cut));
      const snapshot = JSON.parse(JSON.stringify(before.snapshot()));
      const after = new Engine("dev", [tenSeconds]);
      after.restore(snapshot, out);
      out.push(...feed(after, readings.slice(cut)));
      deepStrictEqual(out, uninterrupted, `cut after ${cut} readings`);
    }
  });

  it("emits the open windows of a rule whose window size changed as partial results", () => {
    const before = new Engine("dev", [tenSeconds]);
    feed(before, [{ sensor: "a/t", ts: T0 + 1_000, value: 4 }]);
    const after = new Engine("dev", [
      compileRule({ name: "r", window: { type: "tumbling", size: "1m" } }),
    ]);
    const out: EngineOutput[] = [];
    after.restore(before.snapshot(), out);
    deepStrictEqual(
      out.map((o) => [
        (o as AggregateResult).start,
        (o as AggregateResult).end,
        (o as AggregateResult).partial,
        (o as AggregateResult).aggregates,
      ]),
      [[T0, T0 + 10_000, true, { count: 1, mean: 4, min: 4, max: 4 }]],
    );
    deepStrictEqual(after.openWindows(), 0);
  });
});
