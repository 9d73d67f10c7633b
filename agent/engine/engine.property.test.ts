/**
 * Property tests: for every window type and aggregate, the engine's final results (the
 * highest revision of each id, after an idle flush) equal a naive reference that keeps
 * every reading — for input in order, and for input shuffled within the allowed lateness.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type RuleSpec, SIMPLE_AGGREGATE_NAMES, type WindowSpec } from "../../rules/schema.js";
import { compileRule } from "../compile/compile.js";
import { ALPHA } from "./ddsketch.js";
import { Engine } from "./engine.js";
import { referenceWindows } from "./testing/reference.js";
import type { AggregateResult, Aggregates, EngineOutput, Reading } from "./types.js";

const T0 = 1_700_000_000_000;
const NOW = T0 + 10_000_000_000; // processing time far after every event time
const AGGREGATES = [...SIMPLE_AGGREGATE_NAMES, "p50", "p95", "p99"];
const RUNS = { seed: 20261121, numRuns: 200 };

const windowArb: fc.Arbitrary<WindowSpec> = fc.oneof(
  fc
    .record({
      type: fc.constant("tumbling" as const),
      size: fc.constantFrom("1s", "5s", "1m"),
      offset: fc.constantFrom(undefined, "200ms"),
    })
    .map((w) => (w.offset === undefined ? { type: w.type, size: w.size } : w) as WindowSpec),
  fc.constantFrom<WindowSpec>(
    { type: "hopping", size: "10s", hop: "2s" },
    { type: "hopping", size: "10s", hop: "4s" },
    { type: "hopping", size: "6s", hop: "6s", offset: "1s" },
  ),
  fc.constantFrom<WindowSpec>(
    { type: "sliding", size: "10s" },
    { type: "sliding", size: "5s", resolution: "1s" },
    { type: "sliding", size: "3s", resolution: "3s" },
  ),
  fc.constantFrom<WindowSpec>({ type: "session", gap: "2s" }, { type: "session", gap: "500ms" }),
  fc.record({
    type: fc.constant("count" as const),
    n: fc.integer({ min: 1, max: 8 }),
    every: fc.integer({ min: 1, max: 5 }),
  }),
);

const readingsArb = fc.array(
  fc.record({
    sensor: fc.constantFrom("a/t", "b/t", "c/p"),
    // Coarse times hit window and gap boundaries exactly; fine ones fall anywhere.
    ts: fc.oneof(
      fc.integer({ min: 0, max: 400 }).map((o) => T0 + o * 100),
      fc.integer({ min: 0, max: 40_000 }).map((o) => T0 + o),
    ),
    value: fc.integer({ min: -1000, max: 1000 }),
  }),
  { minLength: 1, maxLength: 60 },
);

function finalResults(rule: RuleSpec, arrivals: readonly Reading[]): AggregateResult[] {
  const compiled = compileRule(rule);
  const engine = new Engine({
    device: "dev",
    rules: [compiled],
    maxFutureMs: Number.POSITIVE_INFINITY,
  });
  const out: EngineOutput[] = [];
  for (const r of arrivals) engine.process(r, NOW, out);
  engine.tick(NOW + compiled.idleTimeoutMs, out);
  const best = new Map<string, AggregateResult>();
  for (const o of out) {
    if (o.kind !== "agg") continue;
    const seen = best.get(o.id);
    if (seen === undefined || o.revision > seen.revision) best.set(o.id, o);
  }
  return order(rule, [...best.values()]);
}

/** By key, then by window; count windows (which may share times) keep their emission order. */
function order<T extends { key: string; start: number; end: number }>(
  rule: RuleSpec,
  results: T[],
): T[] {
  const byTime = rule.window?.type !== "count";
  return results.sort(
    (a, b) => a.key.localeCompare(b.key) || (byTime ? a.start - b.start || a.end - b.end : 0),
  );
}

function reference(rule: RuleSpec, arrivals: readonly Reading[]) {
  const plan = compileRule(rule).window;
  const keys = [...new Set(arrivals.map((r) => r.sensor))].sort();
  return order(
    rule,
    keys.flatMap((key) =>
      referenceWindows(
        key,
        plan,
        arrivals.filter((r) => r.sensor === key),
        AGGREGATES,
      ),
    ),
  );
}

/** Exact for everything but variance/stddev (rounding differs by order) and quantiles (the sketch's bound). */
function assertSameAggregates(actual: Aggregates, expected: Aggregates, context: string): void {
  for (const name of AGGREGATES) {
    const a = actual[name] ?? null;
    const e = expected[name] ?? null;
    if (a === null || e === null) {
      deepStrictEqual(a, e, `${context}: ${name}`);
    } else if (name === "variance" || name === "stddev") {
      ok(Math.abs(a - e) <= 1e-9 * Math.max(1, Math.abs(e)), `${context}: ${name} ${a} vs ${e}`);
    } else if (name.startsWith("p")) {
      ok(Math.abs(a - e) <= ALPHA * Math.abs(e) + 1e-9, `${context}: ${name} ${a} vs exact ${e}`);
    } else {
      deepStrictEqual(a, e, `${context}: ${name}`);
    }
  }
}

/** `arrivals` is what the engine is fed; the reference sees `accepted` (default: all of it). */
function assertMatchesReference(
  rule: RuleSpec,
  accepted: readonly Reading[],
  arrivals = accepted,
): void {
  const actual = finalResults(rule, arrivals);
  const expected = reference(rule, accepted);
  const context = `${JSON.stringify(rule.window)} lateness ${rule.allowedLateness}`;
  deepStrictEqual(
    actual.map((r) => [r.key, r.start, r.end, r.partial]),
    expected.map((r) => [r.key, r.start, r.end, r.partial]),
    `${context}: windows`,
  );
  actual.forEach((r, i) => {
    const want = (expected[i] as { aggregates: Aggregates }).aggregates;
    assertSameAggregates(r.aggregates, want, `${context} ${r.key} ${r.start}`);
  });
}

/** Reorders readings so that each arrives no later than `lateness` behind the maximum before it. */
function shuffleWithin(
  readings: readonly Reading[],
  lateness: number,
  delays: readonly number[],
): Reading[] {
  return readings
    .map((r, i) => ({
      r,
      arrival: r.ts + ((delays[i % delays.length] as number) % (lateness + 1)),
      i,
    }))
    .sort((a, b) => a.arrival - b.arrival || a.i - b.i)
    .map((x) => x.r);
}

describe("engine properties (fast-check, fixed seed)", () => {
  it("every window type and aggregate equals the naive reference on input in event-time order", () => {
    fc.assert(
      fc.property(windowArb, readingsArb, (window, readings) => {
        const sorted = [...readings].sort((a, b) => a.ts - b.ts);
        assertMatchesReference({ name: "r", window, aggregates: AGGREGATES }, sorted);
      }),
      RUNS,
    );
  });

  it("input shuffled within the allowed lateness gives the same final results (time and session windows)", () => {
    const timeWindows = windowArb.filter((w) => w.type !== "count");
    fc.assert(
      fc.property(
        timeWindows,
        readingsArb,
        fc.constantFrom(0, 1_000, 3_000, 10_000),
        fc.array(fc.nat(), { minLength: 1, maxLength: 60 }),
        (window, readings, lateness, delays) => {
          const sorted = [...readings].sort((a, b) => a.ts - b.ts);
          const rule = {
            name: "r",
            window,
            aggregates: AGGREGATES,
            allowedLateness: `${lateness}ms`,
          };
          const shuffled = shuffleWithin(sorted, lateness, delays);
          // The same windows with the same ids as in order (revisions may differ), and the reference's values.
          deepStrictEqual(
            finalResults(rule, shuffled).map((r) => [r.id, r.key, r.start, r.end, r.partial]),
            finalResults(rule, sorted).map((r) => [r.id, r.key, r.start, r.end, r.partial]),
          );
          assertMatchesReference(rule, shuffled);
        },
      ),
      RUNS,
    );
  });

  it("tumbling windows in any arrival order: readings beyond lateness go to the late output, the rest into the reference's windows", () => {
    const tumbling = windowArb.filter((w) => w.type === "tumbling");
    fc.assert(
      fc.property(
        tumbling,
        readingsArb,
        fc.constantFrom(0, 1_000, 3_000),
        (window, readings, lateness) => {
          const rule = {
            name: "r",
            window,
            aggregates: AGGREGATES,
            allowedLateness: `${lateness}ms`,
          };
          const plan = compileRule(rule).window as { sizeMs: number; offsetMs: number };
          // The model: a reading is late when its window's end is at or behind its key's watermark.
          const maxTs = new Map<string, number>();
          const accepted: Reading[] = [];
          let late = 0;
          for (const r of readings) {
            const end =
              Math.floor((r.ts - plan.offsetMs) / plan.sizeMs) * plan.sizeMs +
              plan.offsetMs +
              plan.sizeMs;
            const max = maxTs.get(r.sensor) ?? Number.NEGATIVE_INFINITY;
            if (end <= max - lateness) {
              late++;
              continue;
            }
            accepted.push(r);
            maxTs.set(r.sensor, Math.max(max, r.ts));
          }
          const engine = new Engine({
            device: "dev",
            rules: [compileRule(rule)],
            maxFutureMs: Number.POSITIVE_INFINITY,
          });
          const out: EngineOutput[] = [];
          for (const r of readings) engine.process(r, NOW, out);
          deepStrictEqual(engine.counters.late, late);
          deepStrictEqual(out.filter((o) => o.kind === "late").length, late);
          assertMatchesReference(rule, accepted, readings);
        },
      ),
      RUNS,
    );
  });

  it("count windows equal the reference in any arrival order", () => {
    const countWindows = windowArb.filter((w) => w.type === "count");
    fc.assert(
      fc.property(countWindows, readingsArb, (window, readings) => {
        assertMatchesReference({ name: "r", window, aggregates: AGGREGATES }, readings);
      }),
      RUNS,
    );
  });
});
