import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { formatProblem } from "../rules/validate-yaml.js";
import { parseReplayCsv, ReplaySource, readReplayCsv } from "./replay.js";
import { parseScenario } from "./scenario.js";
import { MessageStream, type TruthRecord } from "./stream.js";

const problems = (text: string, overrides = {}) => {
  const r = parseScenario("s.yaml", text, overrides, 0);
  return r.ok ? [] : r.problems.map(formatProblem);
};

describe("scenario files", () => {
  it("reports every problem with its place in the file", () => {
    assert.deepEqual(
      problems(
        [
          "devices: 2",
          "sensors: [temperature, door]",
          "duration: 10m",
          "colour: blue",
          "anomalies:",
          "  - { type: spkie, at: 1m }",
          "  - { type: spike, at: 1m, device: 3 }",
          "  - { type: spike, at: 1m, sensor: door }",
          "  - { type: level-shift, at: 12m }",
          "  - { type: stuck, at: 1m, sensor: humidity }",
          "faults:",
          "  - { type: offline, device: 1, at: 1m }",
          "  - { type: duplicate, rate: 2 }",
        ].join("\n"),
      ),
      [
        "s.yaml:4:1: colour: unknown field",
        's.yaml:6:13: anomalies.0.type: must be one of "spike", "dip", "level-shift", "drift", "stuck", "silence", "noise-burst" (did you mean "spike"?)',
        's.yaml:12:5: faults.0: missing required field "duration"',
        "s.yaml:13:30: faults.1.rate: must be <= 1",
      ],
    );
    assert.deepEqual(
      problems(
        [
          "devices: 2",
          "sensors: [temperature, door]",
          "duration: 10m",
          "anomalies:",
          "  - { type: spike, at: 1m, device: 3 }",
          "  - { type: spike, at: 1m, sensor: door }",
          "  - { type: level-shift, at: 12m }",
          "  - { type: stuck, at: 1m, sensor: humidity }",
        ].join("\n"),
      ),
      [
        "s.yaml:5:36: anomalies.0.device: device 3, but the scenario has 2 devices",
        's.yaml:6:13: anomalies.1.type: a door contact reads 0 or 1: only "stuck" and "silence" apply to it',
        "s.yaml:7:30: anomalies.2.at: starts at or after the end of the scenario's 10m",
        's.yaml:8:36: anomalies.3.sensor: "humidity" is not one of the scenario\'s sensors (temperature, door)',
      ],
    );
  });

  it("refuses what would not do what it says: a repeat shorter than the interval, no duration, a clock skew a number cannot show, a start without a zone", () => {
    assert.deepEqual(
      problems(
        [
          "duration: 0s",
          "format: number",
          "anomalies: [{ type: spike, at: 1s, every: 500ms, count: 3 }]",
          "faults: [{ type: clock-skew, skew: 30s }]",
        ].join("\n"),
        { start: "2026-01-01T00:00:00" },
      ),
      [
        '--start: start: must be an ISO 8601 time with its zone, such as "2026-01-01T00:00:00Z", or "now"',
        "s.yaml:1:11: duration: must be longer than 0 (leave it out to run until stopped)",
        "s.yaml:3:32: anomalies.0.at: starts at or after the end of the scenario's 0s",
        "s.yaml:3:43: anomalies.0.every: must be at least the interval (1s)",
        "s.yaml:4:18: faults.0.type: a plain number carries no time, so a clock skew cannot show in it",
      ],
    );
  });

  it("a command-line setting replaces the file's, and its problems name the flag", () => {
    assert.deepEqual(problems("anomalies: [{ type: spike, at: 1m, device: 3 }]", { devices: 2 }), [
      "s.yaml:1:44: anomalies.0.device: device 3, but the scenario has 2 devices",
    ]);
    assert.deepEqual(problems("devices: 2", { devices: 0, start: "yesterday" }), [
      "--devices: devices: must be >= 1",
    ]);
    assert.deepEqual(problems("", { start: "yesterday" }), [
      '--start: start: must be an ISO 8601 time with its zone, such as "2026-01-01T00:00:00Z", or "now"',
    ]);
  });

  it("defaults: 4 devices of one temperature sensor each second, json on sensors/{device}/{sensor}, from now", () => {
    const r = parseScenario("(command line)", "", {}, 1_234);
    assert.ok(r.ok);
    assert.deepEqual(
      {
        ...r.plan,
        anomalies: r.plan.anomalies.length,
        faults: r.plan.faults.length,
      },
      {
        name: "scenario",
        seed: 1,
        startMs: 1_234,
        startIsNow: true,
        durationMs: undefined,
        intervalMs: 1_000,
        deviceIds: ["device-01", "device-02", "device-03", "device-04"],
        sensors: ["temperature"],
        format: "json",
        topic: "sensors/{device}/{sensor}",
        anomalies: 0,
        faults: 0,
      },
    );
    assert.ok(Object.isFrozen(r.plan.deviceIds));
  });
});

describe("replay", () => {
  it("reads a NAB file: header, UTC times, every row in file order", () => {
    const rows = readReplayCsv(
      join(
        import.meta.dirname,
        "../../shared/nab/data/realKnownCause/machine_temperature_system_failure.csv",
      ),
    );
    assert.equal(rows.length, 22_695);
    assert.deepEqual(rows[0], { ts: Date.UTC(2013, 11, 2, 21, 15), value: 73.96732207 });
  });

  it("reads ISO and epoch times, and names the line of each problem", () => {
    assert.deepEqual(
      parseReplayCsv(
        "f.csv",
        "time,value\n1700000000,1\n1700000000500,2\n2023-11-14T22:13:21Z,3\n",
      ),
      [
        { ts: 1_700_000_000_000, value: 1 },
        { ts: 1_700_000_000_500, value: 2 },
        { ts: 1_700_000_001_000, value: 3 },
      ],
    );
    assert.throws(
      () => parseReplayCsv("f.csv", "timestamp,value\n2014-01-01 00:00:00,x\n"),
      /^Error: f\.csv:2: not a number: "x"$|f\.csv:2: not a number: "x"/,
    );
    assert.throws(
      () => parseReplayCsv("f.csv", "2014-01-01 00:00:00,1\nsoon,2\n"),
      /f\.csv:2: not a time: "soon"/,
    );
    assert.throws(() => parseReplayCsv("f.csv", "timestamp,value\n"), /f\.csv: no readings in it/);
  });

  it("replays as one sensor's messages, moved to a new start, at the file's own spacing", () => {
    const rows = parseReplayCsv(
      "f.csv",
      "2014-01-01 00:00:00,1.5\n2014-01-01 00:05:00,2\n2014-01-01 00:15:00,7\n2014-01-01 00:10:00,3\n2014-01-01 00:20:00,4\n",
    );
    const channel = {
      device: "replay",
      sensor: "f",
      topic: "sensors/replay/f",
      key: "replay/f",
      decimals: undefined,
      senmlUnit: "",
    };
    const source = new ReplaySource(rows, channel, 1_000_000, undefined);
    const truth: TruthRecord[] = [];
    const channelOnly = {
      device: "replay",
      sensor: "f",
      key: "replay/f",
      topic: "sensors/replay/f",
    };
    const stream = new MessageStream(
      source,
      { format: "json", faults: [], seed: 1, startMs: source.startMs, deviceIds: ["replay"] },
      (t) => truth.push(t),
    );
    const out = Array.from({ length: 6 }, () => stream.next());
    // The truth names the one sensor, and nothing was injected.
    assert.deepEqual(truth, [{ kind: "sensor", ...channelOnly }]);
    // The step back (00:15 → 00:10) is sent at once; the steps after it keep their spacing.
    assert.deepEqual(out, [
      { at: 0, topic: "sensors/replay/f", payload: '{"ts":1000000,"value":1.5}' },
      { at: 300_000, topic: "sensors/replay/f", payload: '{"ts":1300000,"value":2}' },
      { at: 900_000, topic: "sensors/replay/f", payload: '{"ts":1900000,"value":7}' },
      { at: 900_000, topic: "sensors/replay/f", payload: '{"ts":1600000,"value":3}' },
      { at: 1_500_000, topic: "sensors/replay/f", payload: '{"ts":2200000,"value":4}' },
      undefined,
    ]);
  });
});
