/**
 * `brook sim score`: alerts against the ground truth of the anomalies injected. Pure.
 *
 * An alert detects an anomaly when it is on the anomaly's sensor (its `key` is the truth's
 * `key` or `topic`) and its `ts` — the event time of the reading that opened it — lies in
 * [start, end + tolerance]; when several anomalies fit, the one that began last. An alert
 * that detects nothing is false, unless its device was offline (± tolerance) by a fault:
 * a silence alert then is right, so it is counted apart. Latency is the first detecting
 * alert's `ts` minus the anomaly's start. Per type, precision counts against that type
 * the false alerts on the sensors where it was injected.
 */
import type { TruthRecord } from "./stream.js";

export interface AlertLine {
  id: string;
  key: string;
  ts: number;
  rule?: string;
}

export interface LatencySummary {
  median: number;
  p95: number;
  max: number;
}

export interface TypeScore {
  type: string;
  injected: number;
  detected: number;
  recall: number;
  /** alerts that detected an anomaly of this type */
  alerts: number;
  /** false alerts on the sensors this type was injected on */
  falseAlerts: number;
  /** NaN when there are no alerts to judge */
  precision: number;
  /** ms of event time; undefined when nothing was detected */
  latency: LatencySummary | undefined;
}

export interface ScoreReport {
  toleranceMs: number;
  byType: TypeScore[];
  overall: TypeScore;
  alertsUnique: number;
  duringFaults: number;
  /** false alerts on keys the truth never names (often a sensor id template that differs) */
  unknownKeys: string[];
}

type Anomaly = Extract<TruthRecord, { kind: "anomaly" }>;

function summarize(latencies: number[]): LatencySummary | undefined {
  if (latencies.length === 0) return undefined;
  const s = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { median: at(0.5), p95: at(0.95), max: s[s.length - 1] as number };
}

export function score(
  truth: readonly TruthRecord[],
  alerts: readonly AlertLine[],
  toleranceMs: number,
): ScoreReport {
  const anomalies = truth.filter((t): t is Anomaly => t.kind === "anomaly");
  const byKey = new Map<string, Anomaly[]>();
  const deviceOfKey = new Map<string, string>();
  for (const t of truth) {
    if (!("key" in t)) continue;
    for (const k of [t.key, t.topic]) deviceOfKey.set(k, t.device);
  }
  const add = <K, V>(map: Map<K, V[]>, key: K, value: V) => {
    const list = map.get(key);
    if (list === undefined) map.set(key, [value]);
    else list.push(value);
  };
  for (const a of anomalies) for (const k of new Set([a.key, a.topic])) add(byKey, k, a);
  const offline = truth.filter(
    (t): t is Extract<TruthRecord, { type: "offline" }> =>
      t.kind === "fault" && t.type === "offline",
  );

  const unique = new Map<string, AlertLine>();
  for (const a of alerts) if (!unique.has(a.id)) unique.set(a.id, a);
  const detectedBy = new Map<Anomaly, AlertLine[]>();
  const falseByKey = new Map<string, number>();
  const unknown = new Set<string>();
  let duringFaults = 0;
  for (const alert of unique.values()) {
    let best: Anomaly | undefined;
    for (const a of byKey.get(alert.key) ?? [])
      if (
        alert.ts >= a.start &&
        alert.ts <= a.end + toleranceMs &&
        (best === undefined || a.start > best.start)
      )
        best = a;
    if (best !== undefined) {
      add(detectedBy, best, alert);
      continue;
    }
    const device = deviceOfKey.get(alert.key);
    if (device === undefined) unknown.add(alert.key);
    else if (
      offline.some(
        (o) =>
          o.device === device &&
          alert.ts >= o.start - toleranceMs &&
          alert.ts <= o.end + toleranceMs,
      )
    ) {
      duringFaults++;
      continue;
    }
    falseByKey.set(alert.key, (falseByKey.get(alert.key) ?? 0) + 1);
  }

  const judge = (type: string, of: readonly Anomaly[], keys: Set<string>): TypeScore => {
    const latencies: number[] = [];
    let alertCount = 0;
    for (const a of of) {
      const hits = detectedBy.get(a);
      if (hits === undefined) continue;
      alertCount += hits.length;
      let first = Number.POSITIVE_INFINITY;
      for (const h of hits) first = Math.min(first, h.ts);
      latencies.push(first - a.start);
    }
    let falseAlerts = 0;
    for (const [key, n] of falseByKey) if (keys.has(key)) falseAlerts += n;
    return {
      type,
      injected: of.length,
      detected: latencies.length,
      recall: of.length === 0 ? Number.NaN : latencies.length / of.length,
      alerts: alertCount,
      falseAlerts,
      precision:
        alertCount + falseAlerts === 0 ? Number.NaN : alertCount / (alertCount + falseAlerts),
      latency: summarize(latencies),
    };
  };
  const types = [...new Set(anomalies.map((a) => a.type))].sort();
  const byType = types.map((type) => {
    const of = anomalies.filter((a) => a.type === type);
    return judge(type, of, new Set(of.flatMap((a) => [a.key, a.topic])));
  });
  const overall = judge("all", anomalies, new Set(falseByKey.keys()));
  return {
    toleranceMs,
    byType,
    overall,
    alertsUnique: unique.size,
    duringFaults,
    unknownKeys: [...unknown].sort(),
  };
}

const pct = (x: number) => (Number.isNaN(x) ? "–" : x.toFixed(2));
const ms = (x: number | undefined) => (x === undefined ? "–" : `${Math.round(x)} ms`);

export function formatScore(r: ScoreReport): string[] {
  const head = [
    "type",
    "injected",
    "detected",
    "recall",
    "alerts",
    "false",
    "precision",
    "latency p50",
    "p95",
    "max",
  ];
  const row = (s: TypeScore) => [
    s.type,
    String(s.injected),
    String(s.detected),
    pct(s.recall),
    String(s.alerts),
    String(s.falseAlerts),
    pct(s.precision),
    ms(s.latency?.median),
    ms(s.latency?.p95),
    ms(s.latency?.max),
  ];
  const rows = [head, ...r.byType.map(row), row(r.overall)];
  const widths = head.map((_, i) => Math.max(...rows.map((x) => (x[i] as string).length)));
  const lines = rows.map((x) =>
    x
      .map((cell, i) =>
        i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number),
      )
      .join("  "),
  );
  lines.push(
    `${r.alertsUnique} alerts (after removing repeats by id); ${r.duringFaults} while their device was offline (not counted false); tolerance ${r.toleranceMs} ms`,
  );
  if (r.unknownKeys.length > 0)
    lines.push(
      `${r.unknownKeys.length} alert keys the truth does not name (counted false; is the rules' sensor id "<device>/<sensor>" or the topic?): ${r.unknownKeys.slice(0, 5).join(", ")}${r.unknownKeys.length > 5 ? ", …" : ""}`,
    );
  return lines;
}
