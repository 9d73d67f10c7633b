import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { compileRule } from "../../rules/load.js";
import { TumblingWindows } from "./tumbling.js";
import type { AggregateResult, EngineOutput, Reading } from "./types.js";

const T0 = 1_700_000_000_000; // a multiple of 10 s, so windows start exactly here
const rule = compileRule({ name: "r", window: { type: "tumbling", size: "10s" } });

/** Feeds timed readings in order of arrival and collects every output (CONVENTIONS.md 3). */
function run(readings: readonly Reading[], flush = false, r = rule): EngineOutput[] {
  const windows = new TumblingWindows("dev", r);
  const out: EngineOutput[] = [];
  for (const reading of readings) windows.add(reading, out);
  if (flush) windows.flushAll(out);
  return out;
}

const at = (offset: number, value: number, sensor = "a/t"): Reading => ({
  sensor,
  ts: T0 + offset,
  value,
});

function agg(
  start: number,
  aggregates: AggregateResult["aggregates"],
  partial = false,
  key = "a/t",
): AggregateResult {
  return {
    kind: "agg",
    id: createHash("sha256")
      .update(`dev\u0000r\u0000${key}\u0000${start}`)
      .digest("hex")
      .slice(0, 32),
    revision: 0,
    device: "dev",
    rule: "r",
    key,
    start,
    end: start + 10_000,
    partial,
    aggregates,
  };
}

describe("tumbling window", () => {
  it("aggregates readings that arrive out of order within a window", () => {
    const out = run([at(5_000, 2), at(9_999, 3), at(0, 1), at(10_000, 100)]);
    deepStrictEqual(out, [agg(T0, { count: 3, mean: 2, min: 1, max: 3 })]);
  });

  it("puts a reading exactly on a window edge into the window that starts there", () => {
    const out = run([at(0, 1), at(10_000, 5), at(19_999, 7), at(20_000, 0)], true);
    deepStrictEqual(out, [
      agg(T0, { count: 1, mean: 1, min: 1, max: 1 }),
      agg(T0 + 10_000, { count: 2, mean: 6, min: 5, max: 7 }),
      agg(T0 + 20_000, { count: 1, mean: 0, min: 0, max: 0 }, true),
    ]);
  });

  it("does not fire a window until the watermark reaches its end", () => {
    deepStrictEqual(run([at(0, 1), at(9_999, 2)]), []);
  });

  it("fires every window the watermark passes, oldest first, skipping empty ones", () => {
    const out = run([at(0, 1), at(10_500, 2), at(45_000, 3)]);
    deepStrictEqual(out, [
      agg(T0, { count: 1, mean: 1, min: 1, max: 1 }),
      agg(T0 + 10_000, { count: 1, mean: 2, min: 2, max: 2 }),
    ]);
  });

  it("sends a reading for a window that already fired to the late output", () => {
    const out = run([at(0, 1), at(10_000, 2), at(3_000, 9)]);
    strictEqual(out.length, 2);
    deepStrictEqual(out[1], {
      kind: "late",
      id: createHash("sha256")
        .update(`late\u0000dev\u0000r\u0000a/t\u0000${T0 + 3_000}\u00009`)
        .digest("hex")
        .slice(0, 32),
      revision: 0,
      device: "dev",
      rule: "r",
      key: "a/t",
      reading: at(3_000, 9),
      watermark: T0 + 10_000,
    });
  });

  it("keeps windows open for the allowed lateness, so a late reading still counts", () => {
    const lenient = compileRule({
      name: "r",
      window: { type: "tumbling", size: "10s" },
      allowedLateness: "5s",
    });
    const out = run([at(0, 1), at(12_000, 2), at(4_000, 3), at(15_000, 4)], false, lenient);
    deepStrictEqual(out, [agg(T0, { count: 2, mean: 2, min: 1, max: 3 })]);
  });

  it("keeps keys apart, each with its own watermark", () => {
    const out = run(
      [at(0, 1, "a/t"), at(0, 10, "b/t"), at(10_000, 2, "a/t"), at(5_000, 20, "b/t")],
      true,
    );
    deepStrictEqual(out, [
      agg(T0, { count: 1, mean: 1, min: 1, max: 1 }, false, "a/t"),
      agg(T0 + 10_000, { count: 1, mean: 2, min: 2, max: 2 }, true, "a/t"),
      agg(T0, { count: 2, mean: 15, min: 10, max: 20 }, true, "b/t"),
    ]);
  });

  it("handles event times before the epoch offset and negative values", () => {
    const out = run([
      { sensor: "a/t", ts: 9_999, value: -1 },
      { sensor: "a/t", ts: 10_000, value: 0 },
    ]);
    strictEqual((out[0] as AggregateResult).start, 0);
    deepStrictEqual((out[0] as AggregateResult).aggregates, {
      count: 1,
      mean: -1,
      min: -1,
      max: -1,
    });
  });
});
