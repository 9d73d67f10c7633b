import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { deserialize, serialize } from "node:v8";
import type { RuleSpec } from "../../rules/schema.js";
import { compileRule } from "../compile/compile.js";
import { Engine, type EngineSnapshot } from "./engine.js";
import type { EngineOutput, Reading } from "./types.js";

const T0 = 1_700_000_000_000;
const NOW = T0 + 60_000;
const RULES: RuleSpec[] = [
  {
    name: "tumbling",
    window: { type: "tumbling", size: "10s" },
    allowedLateness: "2s",
    aggregates: ["count", "mean", "p95"],
  },
  {
    name: "hopping",
    window: { type: "hopping", size: "10s", hop: "5s" },
    aggregates: ["count", "sum", "stddev"],
  },
  {
    name: "sliding",
    window: { type: "sliding", size: "10s" },
    aggregates: ["count", "max", "p50"],
  },
  {
    name: "count",
    window: { type: "count", n: 3, every: 2 },
    aggregates: ["count", "first", "last"],
  },
  {
    name: "session",
    window: { type: "session", gap: "4s" },
    allowedLateness: "1s",
    aggregates: ["count", "rate"],
  },
  {
    name: "stuck",
    window: { type: "tumbling", size: "10s" },
    detectors: [{ type: "flatline", epsilon: 6, samples: 3, duration: "20s" }],
  },
  {
    name: "every-detector",
    aggregates: [],
    detectors: [
      { type: "zscore", n: 4, minSamples: 2, threshold: 1 },
      { type: "ewma", minSamples: 2, threshold: 1, cooldown: "5s" },
      { type: "mad", n: 5, minSamples: 3, threshold: 1 },
      { type: "range", n: 20, minSamples: 2, cooldownReadings: 1 },
      { type: "threshold", high: 8, highClear: 5, for: "1s" },
      { type: "rate", limit: 1, per: "1s", clearAfter: "3s" },
      {
        type: "composite",
        mode: "any",
        detectors: [
          { type: "zscore", over: "10s", minSamples: 2, threshold: 1 },
          { type: "rate", limit: 2 },
        ],
      },
    ],
  },
];
const readings: Reading[] = [
  0, 4_000, 3_000, 9_000, 12_000, 11_500, 15_000, 21_000, 33_000, 31_000, 47_000,
].map((offset, i) => ({
  sensor: i % 3 === 0 ? "a/t" : "b/t",
  ts: T0 + offset,
  value: (i * 7) % 11,
}));

const newEngine = () => new Engine({ device: "dev", rules: RULES.map(compileRule) });

function feed(engine: Engine, input: readonly Reading[], out: EngineOutput[] = []): EngineOutput[] {
  input.forEach((r, i) => {
    engine.process(r, NOW + i, out);
  });
  return out;
}

describe("engine checkpoint and restore", () => {
  it("stopped mid-window and restored, it continues exactly as an uninterrupted run", () => {
    const uninterrupted = feed(newEngine(), readings);
    ok(
      uninterrupted.some((o) => o.kind === "alert"),
      "the flatline detector's state is part of the check",
    );
    deepStrictEqual(
      new Set(uninterrupted.flatMap((o) => (o.kind === "alert" ? [o.detector] : []))),
      new Set(["flatline", "zscore", "ewma", "mad", "range", "threshold", "rate", "composite"]),
      "every detector's state is part of the check",
    );
    for (let cut = 0; cut <= readings.length; cut++) {
      const before = newEngine();
      const out = feed(before, readings.slice(0, cut));
      // Through the same serialisation the state store uses.
      const snapshot = deserialize(serialize(before.snapshot())) as EngineSnapshot;
      const after = newEngine();
      after.restore(snapshot, out);
      strictEqual(
        after.stateBytes(),
        before.stateBytes(),
        `accounted bytes after restore, cut ${cut}`,
      );
      readings.slice(cut).forEach((r, i) => {
        after.process(r, NOW + cut + i, out);
      });
      deepStrictEqual(out, uninterrupted, `cut after ${cut} readings`);
    }
  });

  it("emits the open windows of a rule whose definition changed as partial results", () => {
    const before = new Engine({
      device: "dev",
      rules: [compileRule({ name: "r", window: { type: "tumbling", size: "10s" } })],
    });
    before.process({ sensor: "a/t", ts: T0 + 1_000, value: 4 }, NOW, []);
    const after = new Engine({
      device: "dev",
      rules: [compileRule({ name: "r", window: { type: "tumbling", size: "1m" } })],
    });
    const out: EngineOutput[] = [];
    after.restore(before.snapshot(), out);
    deepStrictEqual(
      out.map((o) => (o.kind === "agg" ? [o.start, o.end, o.partial, o.aggregates] : o.kind)),
      [[T0, T0 + 10_000, true, { count: 1, mean: 4, min: 4, max: 4 }]],
    );
    strictEqual(after.openWindows(), 0);
    strictEqual(after.stateBytes(), 0);
  });

  it("a changed rule's open alert resolves as forgotten; its windows come back even when its detector state is of another layout", () => {
    const rule = (high: number) =>
      compileRule({
        name: "r",
        window: { type: "tumbling", size: "10s" },
        detectors: [{ type: "threshold", high }],
      });
    const before = new Engine({ device: "dev", rules: [rule(5)] });
    before.process({ sensor: "a/t", ts: T0 + 1_000, value: 9 }, NOW, []);
    const snapshot = before.snapshot();
    const state = snapshot.rules[0]?.keys[0]?.[2] as { slots: Float64Array };
    const after = (s: EngineSnapshot) => {
      const out: EngineOutput[] = [];
      new Engine({ device: "dev", rules: [rule(6)] }).restore(s, out);
      return out.map((o) => [
        o.kind,
        o.kind === "alert" ? o.reason : o.kind === "agg" && o.partial,
      ]);
    };
    deepStrictEqual(after(snapshot), [
      ["alert", "forgotten"],
      ["agg", true],
    ]);
    // An older Brook's detector state (a shorter array) is not read, and does not stop the restore.
    state.slots = state.slots.subarray(0, 3);
    deepStrictEqual(after(snapshot), [["agg", true]]);
  });
});

describe("engine time", () => {
  it("refuses a reading stamped more than maxFuture ahead of processing time, without moving the watermark", () => {
    const engine = new Engine({
      device: "dev",
      rules: [compileRule({ name: "r", window: { type: "tumbling", size: "10s" } })],
      maxFutureMs: 60_000,
    });
    const out: EngineOutput[] = [];
    engine.process({ sensor: "a/t", ts: T0, value: 1 }, T0, out);
    engine.process({ sensor: "a/t", ts: T0 + 60_001, value: 2 }, T0, out);
    engine.process({ sensor: "a/t", ts: T0 + 5_000, value: 3 }, T0, out);
    deepStrictEqual(
      out.map((o) => o.kind),
      ["dead"],
    );
    strictEqual(engine.counters.future, 1);
    engine.process({ sensor: "a/t", ts: T0 + 60_000, value: 4 }, T0, out);
    ok(
      out.some((o) => o.kind === "agg" && o.aggregates.count === 2),
      "the window holds both readings",
    );
  });

  it("closes a silent key's windows after its idle timeout in processing time", () => {
    const engine = new Engine({
      device: "dev",
      rules: [
        compileRule({ name: "r", window: { type: "session", gap: "30s" }, idleTimeout: "2m" }),
      ],
    });
    const out: EngineOutput[] = [];
    engine.process({ sensor: "a/t", ts: T0, value: 1 }, NOW, out);
    engine.tick(NOW + 119_999, out);
    strictEqual(out.length, 0);
    engine.tick(NOW + 120_000, out);
    deepStrictEqual(
      out.map((o) => (o.kind === "agg" ? [o.start, o.end, o.partial, o.aggregates.count] : o.kind)),
      [[T0, T0, false, 1]],
    );
    strictEqual(engine.counters.idleKeys, 1);
    strictEqual(engine.stateBytes(), 0);
  });

  it("keeps one record a key for all its rules: what is attached to it lasts while any rule holds the key, a key no rule takes has none", () => {
    const engine = new Engine({
      device: "dev",
      rules: [
        compileRule({ name: "short", window: { type: "session", gap: "1s" }, idleTimeout: "1m" }),
        compileRule({ name: "long", window: { type: "session", gap: "1s" }, idleTimeout: "5m" }),
        compileRule({ name: "pumps", sensors: "pump/*", window: { type: "count", n: 2 } }),
      ],
    });
    const out: EngineOutput[] = [];
    const take = (sensor: string, now: number) => {
      ok(engine.process({ sensor, ts: T0, value: 1 }, now, out));
      return engine.lastKey;
    };
    const first = take("a/t", NOW);
    ok(first !== undefined);
    first.attached = "mine";
    strictEqual(take("a/t", NOW + 1)?.attached, "mine");
    strictEqual(engine.keyCount(), 2);
    // "short" forgets the key after a minute; "long" still holds it, and the record with it.
    engine.tick(NOW + 61_000, out);
    strictEqual(engine.keyCount(), 1);
    strictEqual(take("a/t", NOW + 61_000), first);
    strictEqual(first.attached, "mine");
    strictEqual(engine.keyCount(), 2);
    // Both forget it: its next reading makes a new record.
    engine.tick(NOW + 61_000 + 300_000, out);
    strictEqual(engine.keyCount(), 0);
    const again = take("a/t", NOW + 400_000);
    ok(again !== undefined && again !== first);
    strictEqual(again.attached, undefined);
    // A pump's reading: three rules hold its key, one record.
    const pump = take("pump/p", NOW + 400_000);
    strictEqual(engine.keyCount(), 5);
    strictEqual(pump?.entries.filter((e) => e !== undefined).length, 3);
    strictEqual(take("pump/p", NOW + 400_001), pump);
    const pumpsOnly = new Engine({
      device: "dev",
      rules: [compileRule({ name: "pumps", sensors: "pump/*", window: { type: "count", n: 2 } })],
    });
    ok(pumpsOnly.process({ sensor: "a/t", ts: T0, value: 1 }, NOW, out));
    strictEqual(pumpsOnly.lastKey, undefined);
    strictEqual(pumpsOnly.keyCount(), 0);
  });
});

describe("detector scores", () => {
  it("report every reading's score: 0 while warming up, z/(z + threshold) after, 0.5 at the threshold", () => {
    const scores: [string, number][] = [];
    const engine = new Engine({
      device: "dev",
      rules: [
        compileRule({
          name: "z",
          window: { type: "count", n: 4 },
          aggregates: [],
          detectors: [{ type: "zscore", threshold: 2, minSamples: 2 }],
        }),
      ],
      onScore: (_rule, _key, detector, _reading, score) => {
        scores.push([detector, score]);
      },
    });
    const out: EngineOutput[] = [];
    // window [9, 11]: mean 10, sd √2; 10 + 2√2 is exactly 2σ away
    [9, 11, 10 + 2 * Math.SQRT2].forEach((value, i) => {
      engine.process({ sensor: "s", ts: T0 + i, value }, NOW, out);
    });
    deepStrictEqual(
      scores.map(([d, s]) => [d, Math.round(s * 1e9) / 1e9]),
      [
        ["zscore", 0],
        ["zscore", 0],
        ["zscore", 0.5],
      ],
    );
    deepStrictEqual(out, [], "a score of exactly the threshold is not an alert, and no aggregates");
  });
});
