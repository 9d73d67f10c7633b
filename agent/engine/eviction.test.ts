/**
 * The memory budget holds under a flood of new sensors, and eviction loses nothing: every
 * reading lands in exactly one emitted result (partial when its key was evicted) or in a
 * named counter.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { describe, it } from "node:test";
import { compileRule } from "../compile/compile.js";
import { Engine } from "./engine.js";
import type { EngineOutput } from "./types.js";

const T0 = 1_700_000_000_000;
const SENSORS = 1_000_000;
const BUDGET = 8 * 1024 * 1024;

describe("state budget", () => {
  it("1,000,000 distinct sensors through an 8 MB budget: accounted bytes stay within it, no reading lost", () => {
    const rules = [
      compileRule({
        name: "tumbling",
        window: { type: "tumbling", size: "1m" },
        aggregates: ["count", "mean", "p95"],
      }),
      compileRule({
        name: "session",
        window: { type: "session", gap: "30s" },
        aggregates: ["count", "max"],
      }),
    ];
    const engine = new Engine({ device: "dev", rules, maxStateBytes: BUDGET });
    const counted = { tumbling: 0, session: 0 };
    const partial = { tumbling: 0, session: 0 };
    let maxBytes = 0;
    const out: EngineOutput[] = [];
    const collect = () => {
      for (const o of out) {
        if (o.kind !== "agg") continue;
        const rule = o.rule as keyof typeof counted;
        counted[rule] += o.aggregates.count as number;
        if (o.partial) partial[rule]++;
      }
      out.length = 0;
    };
    for (let i = 0; i < SENSORS; i++) {
      // A new sensor every reading, a few of them late or from the future.
      const ts = i % 1000 === 999 ? T0 + i + 3_600_000 : T0 + i;
      engine.process({ sensor: `site-${i % 97}/sensor-${i}`, ts, value: i % 101 }, T0 + i, out);
      if (engine.stateBytes() > maxBytes) maxBytes = engine.stateBytes();
      collect();
    }
    engine.tick(T0 + SENSORS + 3_600_000, out);
    collect();
    ok(maxBytes <= BUDGET, `accounted ${maxBytes} bytes > budget ${BUDGET}`);
    ok(engine.counters.evictedKeys > 1_500_000, `evictions: ${engine.counters.evictedKeys}`);
    const accepted = SENSORS - engine.counters.future;
    deepStrictEqual(engine.counters.future, 1_000);
    deepStrictEqual(
      { tumbling: counted.tumbling + engine.counters.late, session: counted.session },
      { tumbling: accepted, session: accepted },
    );
    ok(partial.tumbling > 0 && partial.session > 0);
    deepStrictEqual(engine.stateBytes(), 0);
    deepStrictEqual(engine.keyCount(), 0);
  });
  it("a key's state made from one released by an evicted key behaves as a new one: the same results, alerts included", () => {
    const rules = () => [
      compileRule({
        name: "spikes",
        window: { type: "count", n: 20, every: 5 },
        aggregates: ["count", "mean", "stddev"],
        detectors: [{ type: "zscore", threshold: 2 }],
      }),
    ];
    const run = (churn: boolean) => {
      // A budget of about four keys: each new key evicts the least recently active one.
      const engine = new Engine({ device: "dev", rules: rules(), maxStateBytes: 4_000 });
      const out: EngineOutput[] = [];
      if (churn)
        for (let i = 0; i < 500; i++)
          engine.process(
            // Values far from z's, with spikes: what a state left unreset would carry.
            {
              sensor: `churn-${i % 7}`,
              ts: T0 + i,
              value: i % 50 === 49 ? 9e6 : 1e6 + ((i * 37) % 11),
            },
            T0 + i,
            out,
          );
      const z: EngineOutput[] = [];
      for (let i = 0; i < 200; i++) {
        const value = i === 15 || i === 150 ? 500 : (i * 13) % 7;
        engine.process({ sensor: "z", ts: T0 + 1_000 + i, value }, T0 + 1_000 + i, z);
      }
      return {
        z: z.filter((o) => "key" in o && o.key === "z"),
        evicted: engine.counters.evictedKeys,
      };
    };
    const fresh = run(false);
    const reused = run(true);
    ok(reused.evicted > 400, `evictions: ${reused.evicted}`);
    ok(
      fresh.z.some((o) => o.kind === "alert"),
      "the spike alerts",
    );
    deepStrictEqual(reused.z, fresh.z);
  });
});
