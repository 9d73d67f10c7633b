/**
 * Every detector on fabricated series (series.ts: a noisy steady signal, one kind of
 * trouble from reading 200, one reading a second): the exact times its alerts open and
 * resolve, through the engine the agent runs. Times are in reading numbers (seconds).
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { parseRules } from "../../compile/load.js";
import { Engine } from "../engine.js";
import type { AlertResult, EngineOutput } from "../types.js";
import { LENGTH, type Shape, valueAt } from "./series.js";

const SHAPES: Shape[] = ["spike", "dip", "level shift", "drift", "flatline", "silence"];

/** The detectors as a rules file writes them. */
const DETECTORS: Record<string, unknown> = {
  zscore: { type: "zscore", n: 100 },
  ewma: { type: "ewma", shortHalfLife: 10 },
  "zscore-time": { type: "zscore", over: "100s" },
  mad: { type: "mad" },
  range: { type: "range", minSamples: 150, cooldownReadings: 20 },
  threshold: { type: "threshold", high: 12, highClear: 11, low: 5, lowClear: 7, for: "2s" },
  rate: { type: "rate", limit: 2, per: "1s" },
  flatline: { type: "flatline", samples: 20 },
  silence: { type: "silence", gap: "10s" },
  "composite-max": {
    type: "composite",
    mode: "max",
    threshold: 0.6,
    detectors: [{ type: "ewma" }, { type: "rate", limit: 2 }],
  },
  composite: {
    type: "composite",
    mode: "k-of-n",
    k: 2,
    detectors: [{ type: "zscore", n: 100 }, { type: "rate", limit: 2 }, { type: "mad" }],
  },
};

/**
 * What each does. Worth reading, not just matching:
 * - a z-score without a cooldown flaps on a drift, one alert per excursion; ewma opens once
 *   and stays open while the drift goes on;
 * - mad follows a drift (its median moves) and, after a stuck stretch, finds ordinary noise
 *   anomalous until its window refills (the MAD of a stuck window is 0);
 * - threshold ignores one-reading spikes and dips (for: 2s) and holds a level shift open;
 * - range on pure noise (the flatline and silence series, whose trouble leaves no trace in
 *   the range) finds two new extremes of its moving average, at 286 and 316: the price of
 *   its sensitivity to level shifts;
 * - silence opens when the gap runs out (10 s after the last reading, at 209) and resolves
 *   when readings return.
 */
const EXPECTED: Record<string, Record<Shape, string>> = {
  zscore: {
    spike: "open@200 resolved@201",
    dip: "open@200 resolved@201",
    "level shift": "open@200 resolved@209 open@210 resolved@211",
    drift:
      "open@214 resolved@215 open@218 resolved@220 open@223 resolved@224 open@230 resolved@231 open@233 resolved@236 open@237 resolved@238 open@243 resolved@244",
    flatline: "",
    silence: "",
  },
  ewma: {
    spike: "open@200 resolved@201",
    dip: "open@200 resolved@201",
    "level shift": "open@200 resolved@281",
    drift: "open@228",
    flatline: "",
    silence: "",
  },
  "zscore-time": {
    spike: "open@200 resolved@201",
    dip: "open@200 resolved@201",
    "level shift": "open@200 resolved@209",
    drift:
      "open@214 resolved@215 open@218 resolved@220 open@233 resolved@236 open@237 resolved@238 open@243 resolved@244",
    flatline: "",
    silence: "",
  },
  mad: {
    spike: "open@200 resolved@201",
    dip: "open@200 resolved@201",
    "level shift": "open@200 resolved@228",
    drift: "",
    flatline:
      "open@261 resolved@265 open@266 resolved@269 open@270 resolved@271 open@276 resolved@279 open@283 resolved@284 open@290 resolved@297 open@298 resolved@299",
    silence: "",
  },
  range: {
    spike: "open@200 resolved@221",
    dip: "open@200 resolved@221",
    "level shift": "open@200 resolved@221",
    drift:
      "open@210 resolved@231 open@233 resolved@254 open@257 resolved@278 open@290 resolved@311 open@317 resolved@338 open@339 resolved@360 open@374 resolved@395",
    flatline: "open@286 resolved@307 open@316 resolved@337",
    silence: "open@286 resolved@307 open@316 resolved@337",
  },
  threshold: {
    spike: "",
    dip: "",
    "level shift": "open@202",
    drift: "open@235",
    flatline: "",
    silence: "",
  },
  rate: {
    spike: "open@200 resolved@202",
    dip: "open@200 resolved@202",
    "level shift": "open@200 resolved@201",
    drift: "",
    flatline: "",
    silence: "",
  },
  flatline: {
    spike: "",
    dip: "",
    "level shift": "",
    drift: "",
    flatline: "open@219 resolved@260",
    silence: "",
  },
  silence: {
    spike: "",
    dip: "",
    "level shift": "",
    drift: "",
    flatline: "",
    silence: "open@209 resolved@260",
  },
  "composite-max": {
    spike: "open@200 resolved@202",
    dip: "open@200 resolved@202",
    "level shift": "open@200 resolved@203",
    drift: "",
    flatline: "",
    silence: "",
  },
  composite: {
    spike: "open@200 resolved@201",
    dip: "open@200 resolved@201",
    "level shift": "open@200 resolved@209 open@210 resolved@211",
    drift: "",
    flatline: "",
    silence: "",
  },
};

function run(detector: unknown, shape: Shape): { alerts: AlertResult[]; timeline: string } {
  const rules = parseRules(
    "detectors.yaml",
    stringify({ rules: [{ name: "r", aggregates: [], detectors: [detector] }] }),
  );
  ok(rules.ok, JSON.stringify(rules.ok ? "" : rules.problems));
  const engine = new Engine({ device: "d", rules: rules.rules });
  const out: EngineOutput[] = [];
  for (let i = 0; i < LENGTH; i++) {
    const value = valueAt(shape, i);
    if (value !== undefined) engine.process({ sensor: "s", ts: i * 1000, value }, i * 1000, out);
    engine.tick(i * 1000 + 500, out);
  }
  const alerts = out.filter((o): o is AlertResult => o.kind === "alert");
  const timeline = alerts
    .map((a) =>
      a.state === "open" ? `open@${a.ts / 1000}` : `resolved@${(a.resolvedAt as number) / 1000}`,
    )
    .join(" ");
  return { alerts, timeline };
}

describe("detectors on fabricated series", () => {
  for (const [name, detector] of Object.entries(DETECTORS))
    it(`${name}: alert times on a spike, a dip, a level shift, a drift, a flatline and a silence`, () => {
      const got = Object.fromEntries(SHAPES.map((shape) => [shape, run(detector, shape).timeline]));
      deepStrictEqual(got, EXPECTED[name]);
    });

  it("every alert carries its severity, anomaly score, reading and context; a resolution repeats its opening", () => {
    const { alerts } = run({ type: "ewma", shortHalfLife: 10, severity: "critical" }, "spike");
    const [open, resolved] = alerts as [AlertResult, AlertResult];
    deepStrictEqual(
      { ...open, score: Math.round(open.score), anomalyScore: Math.round(open.anomalyScore * 100) },
      {
        kind: "alert",
        id: open.id,
        revision: 0,
        device: "d",
        rule: "r",
        key: "s",
        detector: "ewma",
        severity: "critical",
        state: "open",
        ts: 200_000,
        value: 20,
        score: Math.round(open.score),
        anomalyScore: Math.round(open.anomalyScore * 100),
        threshold: 5,
        mean: open.mean,
        stddev: open.stddev,
      },
    );
    ok(open.score > 5 && open.anomalyScore > 0.5 && open.anomalyScore < 1);
    ok(Math.abs((open.mean as number) - 10) < 0.2 && (open.stddev as number) > 0);
    deepStrictEqual(resolved, { ...open, revision: 1, state: "resolved", resolvedAt: 201_000 });
  });

  it("a composite names the parts that fired", () => {
    const { alerts } = run(DETECTORS.composite, "spike");
    deepStrictEqual(alerts[0]?.parts, ["zscore", "rate", "mad"]);
    deepStrictEqual(alerts[0]?.detector, "composite");
  });

  it("a silence alert is stamped when the gap ran out, with the last reading's time and value", () => {
    const { alerts } = run(DETECTORS.silence, "silence");
    const open = alerts[0] as AlertResult;
    deepStrictEqual(
      [open.ts, open.since, open.value, open.threshold, alerts[1]?.resolvedAt],
      [209_000, 199_000, valueAt("silence", 199), 10_000, 260_000],
    );
  });

  it("a threshold's clear level holds an alert open while the value hovers at the level", () => {
    const rules = parseRules(
      "t.yaml",
      "rules:\n  - { name: t, aggregates: [], detectors: [{ type: threshold, high: 80, highClear: 75 }] }\n",
    );
    ok(rules.ok);
    const engine = new Engine({ device: "d", rules: rules.rules });
    const out: EngineOutput[] = [];
    [70, 81, 79, 81, 76, 74, 79, 81].forEach((value, i) => {
      engine.process({ sensor: "s", ts: i * 1000, value }, i * 1000, out);
    });
    deepStrictEqual(
      out.map((o) => (o.kind === "alert" ? `${o.state}@${(o.resolvedAt ?? o.ts) / 1000}` : "")),
      ["open@1", "resolved@5", "open@7"],
    );
  });
});
