import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readAlertsFile, readTruthFile } from "./jsonl.js";
import { type AlertLine, formatScore, score } from "./score.js";
import type { TruthRecord } from "./stream.js";

const at = (key: string) => ({
  device: key.split("/")[0] as string,
  sensor: key.split("/")[1] as string,
  key,
  topic: `sensors/${key}`,
});
const anomaly = (type: string, key: string, start: number, end: number): TruthRecord => ({
  kind: "anomaly",
  type: type as "spike",
  ...at(key),
  start,
  end,
  magnitude: 5,
  occurrence: 0,
});
const alert = (id: string, key: string, ts: number): AlertLine => ({ id, key, ts });

describe("sim score", () => {
  it("precision, recall and latency per type on a hand-made case", () => {
    const truth: TruthRecord[] = [
      anomaly("spike", "d1/t", 1_000, 1_000),
      anomaly("level-shift", "d2/h", 2_000, 5_000),
      anomaly("drift", "d3/t", 10_000, 20_000),
      { kind: "fault", type: "offline", device: "d4", start: 0, end: 3_000, buffered: true },
      { kind: "fault", type: "duplicate", ...at("d4/t"), ts: 100 },
    ];
    const alerts = [
      alert("a1", "d1/t", 1_000), // the spike, at once
      alert("a1", "d1/t", 1_000), // its resolution: the same id, counted once
      alert("a2", "d2/h", 2_600), // the level shift, 600 ms in
      alert("a3", "d2/h", 4_000), // the level shift again
      alert("a4", "d2/h", 9_000), // past the shift's end and the tolerance: false
      alert("a5", "sensors/d1/t", 1_500), // keyed by topic, within the tolerance: the spike
      alert("a6", "d4/t", 2_000), // while d4 was offline: apart
      alert("a7", "nowhere/x", 5), // a key the truth never names: false
    ];
    const r = score(truth, alerts, 1_000);
    const brief = (s: (typeof r.byType)[number]) => [
      s.type,
      s.injected,
      s.detected,
      s.recall,
      s.alerts,
      s.falseAlerts,
      s.precision,
      s.latency?.median,
      s.latency?.max,
    ];
    assert.deepEqual(r.byType.map(brief), [
      ["drift", 1, 0, 0, 0, 0, Number.NaN, undefined, undefined],
      ["level-shift", 1, 1, 1, 2, 1, 2 / 3, 600, 600],
      ["spike", 1, 1, 1, 2, 0, 1, 0, 0],
    ]);
    // Quantiles take sorted[⌊q·n⌋]: the median of 0 and 600 is 600.
    assert.deepEqual(brief(r.overall), ["all", 3, 2, 2 / 3, 4, 2, 4 / 6, 600, 600]);
    assert.equal(r.alertsUnique, 7);
    assert.equal(r.duringFaults, 1);
    assert.deepEqual(r.unknownKeys, ["nowhere/x"]);
    const text = formatScore(r).join("\n");
    assert.match(text, /^level-shift\s+1\s+1\s+1\.00\s+2\s+1\s+0\.67\s+600 ms\s+600 ms\s+600 ms$/m);
    assert.match(text, /^drift\s+1\s+0\s+0\.00\s+0\s+0\s+–\s+–/m);
    assert.match(text, /1 alert keys the truth does not name.*nowhere\/x/);
  });

  it("an alert inside two anomalies' windows goes to the one that began last", () => {
    const truth = [anomaly("level-shift", "d/t", 0, 10_000), anomaly("spike", "d/t", 5_000, 5_000)];
    const r = score(truth, [alert("x", "d/t", 5_000)], 0);
    assert.deepEqual(
      r.byType.map((s) => [s.type, s.detected]),
      [
        ["level-shift", 0],
        ["spike", 1],
      ],
    );
  });

  it("reads alerts as mosquitto_sub prints them, with or without the topic, passing over other results", () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-score-"));
    const file = join(dir, "alerts.jsonl");
    writeFileSync(
      file,
      [
        `brook/pi/alert/r/d1/t {"kind":"alert","id":"a","key":"d1/t","ts":5,"rule":"r"}`,
        `{"kind":"alert","id":"b","key":"d1/t","ts":6}`,
        `{"kind":"agg","id":"c","key":"d1/t"}`,
        "not json",
        "",
      ].join("\n"),
    );
    assert.deepEqual(readAlertsFile(file), {
      alerts: [
        { id: "a", key: "d1/t", ts: 5, rule: "r" },
        { id: "b", key: "d1/t", ts: 6, rule: undefined },
      ],
      unreadable: 1,
      other: 1,
    });
    const truthFile = join(dir, "truth.jsonl");
    writeFileSync(
      truthFile,
      `${JSON.stringify(anomaly("spike", "d1/t", 5, 5))}\n{"kind":"anomaly"}\n`,
    );
    assert.throws(() => readTruthFile(truthFile), /truth\.jsonl:2: not a ground-truth record/);
    assert.throws(
      () => readTruthFile(join(dir, "missing.jsonl")),
      /missing\.jsonl: cannot read \(ENOENT\)/,
    );
  });
});
