import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { decodePayload } from "../agent/ingest/decode.js";
import { sourceFor } from "../test/helpers/sources.js";
import type { ScenarioPlan } from "./scenario.js";
import type { SimMessage, TruthRecord } from "./stream.js";
import { generate, planFromFile, planOf } from "./testing.js";

const SCENARIOS = join(import.meta.dirname, "scenarios");
const scenarioFiles = readdirSync(SCENARIOS)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => join(SCENARIOS, f));

const digest = (messages: readonly SimMessage[], truth: readonly TruthRecord[]) =>
  createHash("sha256")
    .update(messages.map((m) => JSON.stringify(m)).join("\n"))
    .update(truth.map((t) => JSON.stringify(t)).join("\n"))
    .digest("hex");

type Anomaly = Extract<TruthRecord, { kind: "anomaly" }>;
type Located = Extract<TruthRecord, { ts: number }>;

/**
 * Checks a stream against its truth and the same scenario's clean stream (no anomalies, no
 * faults): every published reading is the clean one at the true time its device's skew
 * says, changed exactly as the anomalies active then say, sent when the faults say; and
 * nothing else is missing, repeated or broken than the truth says.
 */
function checkAgainstTruth(plan: ScenarioPlan): { messages: number; truth: number } {
  const { messages, truth } = generate(plan);
  const clean = generate({ ...plan, anomalies: [], faults: [] });
  const source = sourceFor(plan.format);
  const decodeOne = (m: SimMessage) =>
    decodePayload(source, m.topic, Buffer.from(m.payload), 0).readings[0];
  const id = (key: string, ts: number) => `${key}@${ts}`;

  const cleanAt = new Map<string, { value: number; at: number }>();
  for (const m of clean.messages) {
    const r = decodeOne(m);
    assert.ok(r !== undefined, `clean message undecodable: ${m.payload}`);
    cleanAt.set(id(r.sensor, r.ts), { value: r.value, at: m.at });
  }
  const skew = new Map<string, number>();
  for (const t of truth)
    if (t.kind === "fault" && t.type === "clock-skew")
      skew.set(t.device, (skew.get(t.device) ?? 0) + t.skew);
  const skewOf = (device: string) => skew.get(device) ?? 0;
  const anomalies = truth.filter((t): t is Anomaly => t.kind === "anomaly");
  const offline = truth.filter(
    (t): t is Extract<TruthRecord, { type: "offline" }> =>
      t.kind === "fault" && t.type === "offline",
  );
  const located = (type: Located["type"]) =>
    new Map(
      truth
        .filter((t): t is Located => t.kind === "fault" && t.type === type)
        .map((t) => [id(t.key, t.ts - skewOf(t.device)), t] as const),
    );
  const delayed = located("out-of-order");
  const duplicated = located("duplicate");
  const broken = located("malformed");
  const oversized = located("oversized");
  /** the anomalies touching a reading at true time `ts`; a one-reading anomaly has start = end */
  const active = (key: string, device: string, ts: number) =>
    anomalies.filter((a) => {
      const start = a.start - skewOf(device);
      const end = a.end - skewOf(device);
      return a.key === key && (start === end ? ts === start : ts >= start && ts < end);
    });
  const stuckAt = new Map<Anomaly, number>();
  const decimals = (key: string) =>
    10 **
    -(key.endsWith("temperature") || key.endsWith("pressure")
      ? 2
      : key.endsWith("humidity")
        ? 1
        : 3);

  const seen = new Map<string, number>();
  const undecodable = new Map<string, number>();
  const noisy = new Set<Anomaly>();
  for (const m of messages) {
    const r = decodeOne(m);
    if (r === undefined) {
      undecodable.set(m.topic, (undecodable.get(m.topic) ?? 0) + 1);
      continue;
    }
    const device = r.sensor.split("/")[0] as string;
    const trueTs = r.ts - skewOf(device);
    const k = id(r.sensor, trueTs);
    const base = cleanAt.get(k);
    assert.ok(
      base !== undefined,
      `${k}: no such reading in the clean stream (skew ${skewOf(device)})`,
    );
    seen.set(k, (seen.get(k) ?? 0) + 1);

    let expected = base.value;
    let exact = true;
    for (const a of active(r.sensor, device, trueTs)) {
      const into = trueTs - (a.start - skewOf(device));
      if (a.type === "spike" || a.type === "level-shift") expected += a.magnitude;
      else if (a.type === "dip") expected -= a.magnitude;
      else if (a.type === "drift") expected += (a.magnitude * into) / (a.end - a.start);
      else if (a.type === "stuck") {
        if (!stuckAt.has(a)) stuckAt.set(a, r.value);
        expected = stuckAt.get(a) as number;
      } else if (a.type === "noise-burst") {
        exact = false;
        if (r.value !== base.value) noisy.add(a);
      } else assert.fail(`${k}: published during a silence`);
    }
    if (exact)
      assert.ok(
        Math.abs(r.value - expected) <= 1.01 * decimals(r.sensor),
        `${k}: ${r.value}, expected ${expected}`,
      );
    if (oversized.has(k)) assert.equal(Buffer.byteLength(m.payload), oversized.get(k)?.bytes);

    let at = base.at;
    const off = offline.find(
      (o) =>
        o.device === device &&
        trueTs >= o.start - skewOf(device) &&
        trueTs < o.end - skewOf(device),
    );
    if (off !== undefined) {
      assert.ok(off.buffered, `${k}: published while its device was offline without a buffer`);
      at = off.end - skewOf(device) - plan.startMs;
    }
    at += delayed.get(k)?.delay ?? 0;
    const copy = (seen.get(k) as number) === 2;
    assert.equal(
      m.at,
      at + (copy ? (duplicated.get(k)?.delay ?? 0) : 0),
      `${k}: sent at the wrong time`,
    );
  }

  for (const [k, base] of cleanAt) {
    const [key, ts] = [k.slice(0, k.lastIndexOf("@")), Number(k.slice(k.lastIndexOf("@") + 1))];
    const device = key.split("/")[0] as string;
    const silenced = active(key, device, ts).some((a) => a.type === "silence");
    const lost = offline.some(
      (o) =>
        !o.buffered &&
        o.device === device &&
        ts >= o.start - skewOf(device) &&
        ts < o.end - skewOf(device),
    );
    const expected = silenced || lost || broken.has(k) ? 0 : duplicated.has(k) ? 2 : 1;
    assert.equal(
      seen.get(k) ?? 0,
      expected,
      `${k} (at ${base.at}) published ${seen.get(k) ?? 0} times`,
    );
  }
  const expectedBroken = new Map<string, number>();
  for (const [k, t] of broken)
    expectedBroken.set(t.topic, (expectedBroken.get(t.topic) ?? 0) + (duplicated.has(k) ? 2 : 1));
  assert.deepEqual(undecodable, expectedBroken);
  for (const a of anomalies.filter((x) => x.type === "noise-burst"))
    assert.ok(noisy.has(a), `noise burst ${a.key} changed nothing`);
  return { messages: messages.length, truth: truth.length };
}

describe("simulator stream", () => {
  for (const file of scenarioFiles) {
    const name = file.slice(SCENARIOS.length + 1);
    it(`${name}: the same seed gives a byte-identical stream and truth; another seed does not`, () => {
      const plan = planFromFile(file);
      const a = generate(plan);
      const b = generate(planFromFile(file));
      assert.equal(digest(a.messages, a.truth), digest(b.messages, b.truth));
      const c = generate(planFromFile(file, { seed: plan.seed + 1 }));
      assert.notEqual(digest(a.messages, a.truth), digest(c.messages, c.truth));
    });

    it(`${name}: what is published is exactly what its ground truth says`, () => {
      const counts = checkAgainstTruth(planFromFile(file));
      assert.ok(counts.truth > 0 && counts.messages > 0);
    });
  }

  for (const format of ["senml", "influx"] as const)
    it(`network-faults.yaml as ${format}: the truth holds in another payload format`, () => {
      checkAgainstTruth(planFromFile(join(SCENARIOS, "network-faults.yaml"), { format }));
    });

  it("injects each anomaly type on its schedule, on the named device and sensor only", () => {
    const plan = planOf(
      "t.yaml",
      [
        "seed: 5",
        "duration: 10m",
        "devices: 3",
        "sensors: [temperature, pressure]",
        "anomalies:",
        "  - { type: spike, at: 1m, every: 2m, count: 3, device: 2, sensor: pressure, magnitude: 9 }",
        "  - { type: drift, at: 30s, duration: 2m, device: all, sensor: temperature, magnitude: -4 }",
        "  - { type: silence, at: 5m, duration: 10s, device: 3, sensor: all }",
      ].join("\n"),
    );
    const { truth } = generate(plan);
    const t0 = plan.startMs;
    const brief = truth
      .filter((t) => t.kind !== "sensor")
      .map((t) =>
        t.kind === "anomaly" ? `${t.type} ${t.key} ${t.start - t0}..${t.end - t0}` : t.type,
      );
    // Sensors are staggered across the interval: channel c of 6 reads c/6 s into each second;
    // truth comes in the order the stream meets each anomaly's first reading.
    assert.deepEqual(brief, [
      "drift device-01/temperature 30000..150000",
      "drift device-02/temperature 30000..150000",
      "drift device-03/temperature 30000..150000",
      "spike device-02/pressure 60500..60500",
      "spike device-02/pressure 180500..180500",
      "spike device-02/pressure 300500..300500",
      "silence device-03/temperature 300000..310000",
      "silence device-03/pressure 300000..310000",
    ]);
    checkAgainstTruth(plan);
  });

  it("a reading lost while its device is offline gets no other fault in the truth", () => {
    const plan = planOf(
      "t.yaml",
      [
        "duration: 20s",
        "devices: 1",
        "faults:",
        "  - { type: offline, device: 1, at: 5s, duration: 10s, buffer: false }",
        "  - { type: malformed, rate: 1 }",
        "  - { type: duplicate, rate: 1 }",
      ].join("\n"),
    );
    const { messages, truth } = generate(plan);
    assert.equal(messages.length, 20);
    const count = (type: string) =>
      truth.filter((t) => t.kind === "fault" && t.type === type).length;
    assert.deepEqual([count("malformed"), count("duplicate")], [10, 10]);
    checkAgainstTruth(plan);
  });

  it("adding an anomaly changes only the readings it touches, not the faults' choices", () => {
    const base = [
      "duration: 2m",
      "devices: 3",
      "faults:",
      "  - { type: malformed, rate: 0.3 }",
      "  - { type: out-of-order, rate: 0.2 }",
    ];
    const without = generate(planOf("t.yaml", base.join("\n")));
    const withSilence = generate(
      planOf(
        "t.yaml",
        [...base, "anomalies:", "  - { type: silence, at: 20s, duration: 30s, device: 2 }"].join(
          "\n",
        ),
      ),
    );
    const silenced = (m: SimMessage) =>
      m.topic.includes("device-02") && m.at >= 20_000 && m.at < 50_000;
    const faultsOf = (truth: TruthRecord[]) =>
      truth.filter(
        (t) =>
          t.kind === "fault" &&
          !(
            t.device === "device-02" &&
            "ts" in t &&
            t.ts >= plan0 + 20_000 &&
            t.ts < plan0 + 50_000
          ),
      );
    const plan0 = Date.parse("2026-01-01T00:00:00Z");
    assert.deepEqual(
      withSilence.messages,
      without.messages.filter((m) => !silenced(m)),
    );
    assert.deepEqual(faultsOf(withSilence.truth), faultsOf(without.truth));
  });

  it("a delayed message is sent after later readings, and a device's held readings go out in one burst when it is back", () => {
    const plan = planOf(
      "t.yaml",
      [
        "duration: 1m",
        "devices: 2",
        "faults:",
        "  - { type: out-of-order, rate: 0.2, device: 1, delay: { distribution: fixed, mean: 3s } }",
        "  - { type: offline, device: 2, at: 10s, duration: 20s }",
      ].join("\n"),
    );
    const { messages, truth } = generate(plan);
    const delayed = truth.filter((t) => t.kind === "fault" && t.type === "out-of-order");
    assert.ok(delayed.length > 5);
    const ts = messages.map((m) => JSON.parse(m.payload).ts as number);
    const outOfOrder = ts.filter((t, i) => i > 0 && t < Math.max(...ts.slice(0, i))).length;
    assert.ok(outOfOrder >= delayed.length, `${outOfOrder} readings arrive after later ones`);
    const burst = messages.filter((m) => m.topic.includes("device-02") && m.at === 30_000);
    // device-02 reads at x.5 s: the 20 readings of 10.5 s … 29.5 s go out together at 30 s.
    assert.equal(burst.length, 20);
    checkAgainstTruth(plan);
  });
});
