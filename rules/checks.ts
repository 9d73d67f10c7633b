/** Facts across fields of a rules file that its schema cannot state; each a list of problems. */
import {
  DEFAULT_ALERT_TOPIC,
  DEFAULT_INGEST_TOPIC,
  DEFAULT_WINDOW_MS,
  localAlertsOn,
  MAX_PANES,
  SENSOR_NAMES,
} from "./defaults.js";
import { msOr } from "./duration.js";
import type { DetectorSpec, PartSpec, RuleSpec, SourceSpec, WindowSpec } from "./schema.js";
import { outputTopicProblem, templateMayMatch } from "./topic.js";

export function sensorTemplateProblem(source: Record<string, unknown>): string | undefined {
  if (typeof source.sensor !== "string") return undefined;
  const format = (source.format ?? "json") as keyof typeof SENSOR_NAMES;
  if (!Object.hasOwn(SENSOR_NAMES, format)) return undefined; // an unknown format is reported by the schema
  const names = SENSOR_NAMES[format];
  const levels =
    typeof source.topic === "string" && !source.topic.includes("#")
      ? source.topic.split("/").length
      : Number.POSITIVE_INFINITY;
  for (const [, what] of source.sensor.matchAll(/\{([^{}]*)\}/g)) {
    if (/^\d+$/.test(what as string) && Number(what) >= levels)
      return `{${what}}: the topic filter has ${levels} levels ({0} to {${levels - 1}})`;
    if (what === "topic" || /^\d+$/.test(what as string) || names.includes(what as string))
      continue;
    const allowed = ["{topic}", "{0}", "{1}", "…", ...names.map((n) => `{${n}}`)].join(", ");
    return `unknown placeholder {${what}} for format ${format} (use ${allowed})`;
  }
  if ((source.fields as { sensor?: unknown } | undefined)?.sensor !== undefined)
    return "set either sensor (from the topic) or fields.sensor (from the payload), not both";
  return undefined;
}

type PathProblem = { path: (string | number)[]; message: string };

/** `windowOk`: whether the rule's window is valid (facts that need it are checked only then). */
export function detectorProblems(rule: RuleSpec, windowOk: boolean): PathProblem[] {
  const out: PathProblem[] = [];
  const seen = new Set<string>();
  (rule.detectors ?? []).forEach((d: DetectorSpec, i) => {
    if (seen.has(d.type)) out.push({ path: [i, "type"], message: `a second ${d.type} detector` });
    seen.add(d.type);
    if (
      d.type === "silence" &&
      rule.idleTimeout !== undefined &&
      msOr(rule.idleTimeout, 0) <= msOr(d.gap, 0)
    )
      out.push({
        path: [i, "gap"],
        message: `must be shorter than the rule's idleTimeout (${rule.idleTimeout}): the key would be forgotten before its silence is noticed`,
      });
    const count = windowOk && rule.window?.type === "count" ? rule.window.n : undefined;
    const min = d.type === "zscore" ? (d.minSamples ?? 10) : 0;
    if (
      d.type === "zscore" &&
      d.n === undefined &&
      d.over === undefined &&
      count !== undefined &&
      count < min
    )
      out.push({
        path: [i],
        message: `zscore reads the rule's count window of ${count} readings, fewer than minSamples (${min}), so it would never judge one: set n`,
      });
    for (const p of oneDetectorProblems(d)) out.push({ ...p, path: [i, ...p.path] });
  });
  return out;
}

const LIFECYCLE_FIELDS = ["cooldown", "cooldownReadings", "clearAfter", "severity"] as const;

function oneDetectorProblems(d: DetectorSpec | PartSpec): PathProblem[] {
  const out: PathProblem[] = [];
  const positive = (field: string, value: string | undefined) => {
    if (value !== undefined && msOr(value, 0) === 0)
      out.push({ path: [field], message: "must be longer than 0" });
  };
  if (d.type === "zscore") {
    if (d.n !== undefined && d.over !== undefined)
      out.push({
        path: ["over"],
        message: "set either n (readings) or over (a duration), not both",
      });
    positive("over", d.over);
  }
  if (d.type === "flatline") {
    if (d.duration === undefined && d.samples === undefined)
      out.push({ path: [], message: "flatline needs a duration, samples, or both" });
    positive("duration", d.duration);
  }
  if (d.type === "threshold") {
    if (d.high === undefined && d.low === undefined)
      out.push({ path: [], message: "threshold needs high, low, or both" });
    if (d.high !== undefined && d.low !== undefined && d.low >= d.high)
      out.push({ path: ["low"], message: `must be below high (${d.high})` });
    for (const [clear, level, side] of [
      ["highClear", d.high, "high"],
      ["lowClear", d.low, "low"],
    ] as const) {
      const c = d[clear];
      if (c === undefined) continue;
      if (level === undefined) out.push({ path: [clear], message: `${clear} needs ${side}` });
      else if (side === "high" ? c > level : c < level)
        out.push({
          path: [clear],
          message: `must be ${side === "high" ? "at most" : "at least"} ${side} (${level})`,
        });
    }
  }
  if (d.type === "threshold" && d.high !== undefined && d.low !== undefined) {
    const highClear = d.highClear ?? d.high;
    const lowClear = d.lowClear ?? d.low;
    if (lowClear >= highClear)
      out.push({
        path: ["lowClear"],
        message: `must be below the high side's clear level (${highClear}), or an open alert could never clear`,
      });
  }
  if ((d.type === "mad" || (d.type === "zscore" && d.n !== undefined)) && d.n !== undefined) {
    const min = d.minSamples ?? 10;
    if (min > d.n)
      out.push({
        path: ["minSamples"],
        message: `must be at most n (${d.n}), or the detector would never judge a reading`,
      });
  }
  if (d.type === "rate") positive("per", d.per);
  if (d.type === "silence") positive("gap", d.gap);
  if (d.type === "composite") {
    const mode = d.mode ?? "any";
    if (mode === "k-of-n" && d.k === undefined)
      out.push({ path: ["k"], message: "mode k-of-n needs k" });
    if (mode !== "k-of-n" && d.k !== undefined)
      out.push({ path: ["k"], message: `k is for mode k-of-n (this composite's mode is ${mode})` });
    if (d.k !== undefined && d.k > d.detectors.length)
      out.push({
        path: ["k"],
        message: `must be at most the number of detectors (${d.detectors.length})`,
      });
    if (mode !== "max" && d.threshold !== undefined)
      out.push({
        path: ["threshold"],
        message: `threshold is for mode max (this composite's mode is ${mode})`,
      });
    d.detectors.forEach((part, j) => {
      for (const field of LIFECYCLE_FIELDS)
        if (part[field] !== undefined)
          out.push({
            path: ["detectors", j, field],
            message:
              "a composite's detectors have no lifecycle of their own: set it on the composite",
          });
      for (const p of oneDetectorProblems(part))
        out.push({ ...p, path: ["detectors", j, ...p.path] });
    });
  }
  return out;
}

export function outputProblems(
  rule: RuleSpec,
  sources: readonly SourceSpec[] | undefined,
): { field: string; message: string }[] {
  const o = rule.outputs ?? {};
  const out: { field: string; message: string }[] = [];
  const alertsOnly = rule.aggregates?.length === 0 && localAlertsOn(rule);
  if (o.upstream === false && o.local === undefined && !alertsOnly)
    out.push({
      field: "upstream",
      message: "the rule's results would go nowhere: set outputs.local, or keep upstream",
    });
  const bad = o.local === undefined ? undefined : outputTopicProblem(o.local);
  if (bad !== undefined) return [...out, { field: "local", message: bad }];
  const template = o.local ?? (localAlertsOn(rule) ? DEFAULT_ALERT_TOPIC : undefined);
  if (template === undefined) return out;
  // Results that would come back in as readings.
  const inputs = sources?.map((s) => [s.topic, `source ${s.name}`]) ?? [
    [DEFAULT_INGEST_TOPIC, "the agent's input"],
  ];
  for (const [filter, what] of inputs)
    if (templateMayMatch(filter as string, template))
      out.push(
        o.local === undefined
          ? {
              field: "localAlerts",
              message: `alerts, published at ${template}, would feed back into ${what} (${filter}); set outputs.local to a topic outside it, or localAlerts: false`,
            }
          : {
              field: "local",
              message: `results would feed back into ${what} (${filter}); choose a topic outside it`,
            },
      );
  return out;
}

export function windowProblems(w: WindowSpec | undefined): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  if (w === undefined || w.type === "count") return out;
  if (w.type === "session") {
    if (msOr(w.gap, 1) === 0) out.push({ field: "gap", message: "must be longer than 0" });
    if (w.maxDuration !== undefined && msOr(w.maxDuration, 0) < msOr(w.gap, 0))
      out.push({ field: "maxDuration", message: "must be at least the gap" });
    return out;
  }
  const size = msOr(w.size, DEFAULT_WINDOW_MS);
  if (size === 0) out.push({ field: "size", message: "must be longer than 0" });
  if (w.type === "hopping") {
    const hop = msOr(w.hop, 0);
    if (hop === 0) out.push({ field: "hop", message: "must be longer than 0" });
    else if (hop > size)
      out.push({ field: "hop", message: `must be at most the size (${w.size})` });
    else if (size / gcd(size, hop) > MAX_PANES)
      out.push({
        field: "hop",
        message: `the window would keep ${size / gcd(size, hop)} panes per key (at most ${MAX_PANES}): make size a multiple of a longer hop`,
      });
  }
  if (w.type === "sliding" && w.resolution !== undefined) {
    const res = msOr(w.resolution, 0);
    if (res === 0 || size % res !== 0)
      out.push({ field: "resolution", message: `must divide the size (${w.size}) evenly` });
    else if (size / res > MAX_PANES)
      out.push({
        field: "resolution",
        message: `the window would keep ${size / res} panes per key (at most ${MAX_PANES})`,
      });
  }
  if (
    w.type !== "sliding" &&
    w.offset !== undefined &&
    msOr(w.offset, 0) >= (w.type === "hopping" ? msOr(w.hop, size) : size)
  ) {
    out.push({ field: "offset", message: "must be shorter than the window's hop (or size)" });
  }
  return out;
}

export function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
