/** What the live view keeps: bounded per-sensor histories, window bands, alerts, the agent's figures. */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import type { AggregateResult, AlertResult, KeyRecord } from "../engine/types.js";
import { LiveRecorder, MAX_HISTORIES, POINTS, SERIES } from "./recorder.js";

function agg(key: string, aggregates: Record<string, number>): AggregateResult {
  return {
    kind: "agg",
    id: `w-${key}`,
    revision: 0,
    device: "d",
    rule: "r",
    key,
    start: 0,
    end: 1_000,
    partial: false,
    aggregates,
  };
}

function alert(key: string, id: string, state: "open" | "resolved", ts: number): AlertResult {
  return {
    kind: "alert",
    id,
    revision: state === "open" ? 0 : 1,
    device: "d",
    rule: "spikes",
    key,
    detector: "zscore",
    severity: "warning",
    state,
    ts,
    value: 99,
    score: 7,
    anomalyScore: 0.9,
    threshold: 3,
  };
}

describe("live recorder", () => {
  it("keeps each sensor's last values in order, its window's band (3σ over min/max) and its anomalies", () => {
    const live = new LiveRecorder();
    for (let i = 0; i < POINTS + 5; i++) live.reading({ sensor: "a", ts: i, value: i * 2 });
    const seen: string[] = [];
    live.onAlert = (a) => seen.push(`${a.key} ${a.state}`);
    live.output(agg("a", { mean: 10, min: 1, max: 20 }));
    strictEqual(live.sensor("a")?.band?.kind, "range");
    live.output(agg("a", { mean: 10, stddev: 2 }));
    live.output(agg("a", { mean: 11, min: 0, max: 30 }));
    deepStrictEqual(live.sensor("a")?.band, {
      start: 0,
      end: 1_000,
      mean: 10,
      lo: 4,
      hi: 16,
      kind: "3σ",
    });
    live.output(alert("a", "x", "open", 7));
    const view = live.sensor("a");
    strictEqual(view?.points?.length, POINTS);
    deepStrictEqual(view?.points?.[0], [5, 10]);
    deepStrictEqual(view?.points?.at(-1), [POINTS + 4, (POINTS + 4) * 2]);
    deepStrictEqual(view?.markers, [[7, 99]]);
    strictEqual(view?.open, 1);
    strictEqual(live.alerts().open.length, 1);
    live.output(alert("a", "x", "resolved", 7));
    strictEqual(live.sensor("a")?.open, 0);
    deepStrictEqual(live.alerts().open, []);
    deepStrictEqual(
      live.alerts().recent.map((a) => a.state),
      ["resolved", "open"],
    );
    deepStrictEqual(seen, ["a open", "a resolved"]);
  });

  it("finds sensors by a part of their name, most active or alerting first, and says how many matched", () => {
    const live = new LiveRecorder();
    for (let i = 0; i < 5; i++) live.reading({ sensor: "pump/temp", ts: i, value: 1 });
    live.reading({ sensor: "pump/pressure", ts: 0, value: 1 });
    live.reading({ sensor: "fan/temp", ts: 0, value: 1 });
    live.sample(1_000, 7, 0, "live");
    live.output(alert("fan/temp", "y", "open", 0));
    const names = (r: ReturnType<LiveRecorder["query"]>) => r.sensors.map((s) => s.sensor);
    deepStrictEqual(names(live.query({ by: "activity", n: 10 })), [
      "pump/temp",
      "fan/temp",
      "pump/pressure",
    ]);
    deepStrictEqual(names(live.query({ by: "alerts", n: 1 })), ["fan/temp"]);
    const pumps = live.query({ q: "PUMP", by: "name", n: 1 });
    deepStrictEqual([pumps.total, pumps.matched, names(pumps)], [3, 2, ["pump/pressure"]]);
  });

  it("holds the agent's figures a second apart for five minutes, readings/s from the counter", () => {
    const live = new LiveRecorder();
    for (let s = 0; s <= SERIES + 2; s++) live.sample(s * 1_000, s * 50, s, "live");
    strictEqual(live.samples.length, SERIES);
    deepStrictEqual(live.samples.at(-1), {
      at: (SERIES + 2) * 1_000,
      readingsPerSec: 50,
      outboxDepth: SERIES + 2,
      uplink: "live",
    });
  });

  it("gives histories to at most MAX_HISTORIES sensors, then to the most active ones", () => {
    const live = new LiveRecorder();
    const quiet = MAX_HISTORIES + 10;
    for (let i = 0; i < quiet; i++) live.reading({ sensor: `s${i}`, ts: 0, value: i });
    strictEqual(live.sensor(`s${quiet - 1}`)?.points, null);
    strictEqual(live.sensor("s0")?.points?.length, 1);
    // The last sensor, the only one still reading, gets a history at the next rebalance.
    for (let t = 1; t <= 10; t++) {
      live.reading({ sensor: `s${quiet - 1}`, ts: t, value: t });
      live.sample(t * 1_000, t, 0, "live");
    }
    strictEqual(live.sensor(`s${quiet - 1}`)?.points?.length, 0);
    live.reading({ sensor: `s${quiet - 1}`, ts: 11, value: 11 });
    deepStrictEqual(live.sensor(`s${quiet - 1}`)?.points, [[11, 11]]);
    const withHistory = live
      .query({ by: "name", n: quiet })
      .sensors.filter((s) => s.points !== null).length;
    strictEqual(withHistory, MAX_HISTORIES);
  });

  it("keeps a sensor's entry on the engine's record of its key and finds it there: the same sensor's figures whether or not a record comes with a reading", () => {
    const live = new LiveRecorder();
    const key: KeyRecord = { attached: undefined };
    live.reading({ sensor: "a", ts: 0, value: 1 });
    live.reading({ sensor: "a", ts: 1, value: 2 }, key);
    strictEqual(key.attached !== undefined, true);
    live.reading({ sensor: "a", ts: 2, value: 3 }, key);
    live.reading({ sensor: "a", ts: 3, value: 4 });
    // A new record for the key (the engine forgot it and took it again): the same entry.
    live.reading({ sensor: "a", ts: 4, value: 5 }, { attached: undefined });
    strictEqual(live.sensor("a")?.readings, 5);
    strictEqual(live.sensor("a")?.last, 5);
    strictEqual(live.sensor("a")?.lastTs, 4);
  });
});
