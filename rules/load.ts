/** Loads and checks a rules file; returns every problem found, never just the first. */
import { readFileSync } from "node:fs";
import { parseDuration } from "./duration.js";
import {
  Detector,
  type DetectorSpec,
  Outputs,
  type PartSpec,
  type RuleSpec,
  RulesFile,
  type RulesFileSpec,
  Source,
  type SourceSpec,
  Window,
  type WindowSpec,
} from "./schema.js";
import { outputTopicProblem, templateMayMatch, topicFilterProblem } from "./topic.js";
import { compileSchema, type Problem, parseYamlDocument, schemaProblems } from "./validate-yaml.js";

export const DEFAULT_WINDOW_MS = 60_000;
export const DEFAULT_AGGREGATES: readonly string[] = ["count", "mean", "min", "max"];
const MIN_IDLE_MS = 60_000;
const COUNT_IDLE_MS = 300_000;
/** An EWMA baseline is worth keeping through a day of silence. */
const EWMA_IDLE_MS = 86_400_000;
/** Sliding windows keep this many panes per window unless `resolution` says otherwise. */
const SLIDING_PANES = [60, 50, 40, 30, 25, 20, 10, 8, 5, 4, 2, 1];
/** Panes a hopping or sliding window may keep per key (each is a few dozen bytes). */
const MAX_PANES = 10_000;

/** A window with durations in ms and its pane length decided. */
export type WindowPlan =
  | {
      readonly type: "tumbling" | "hopping" | "sliding";
      readonly sizeMs: number;
      /** distance between window ends; the pane length for sliding windows */
      readonly hopMs: number;
      /** windows are built from panes of this length: gcd(size, hop) */
      readonly paneMs: number;
      readonly offsetMs: number;
    }
  | { readonly type: "count"; readonly n: number; readonly every: number }
  | {
      readonly type: "session";
      readonly gapMs: number;
      readonly maxDurationMs: number | undefined;
    };

export type Severity = "info" | "warning" | "critical";

/** Every detector's alert lifecycle (agent/engine/alert-lifecycle.ts). */
export interface LifecycleFields {
  readonly cooldownMs: number;
  readonly cooldownReadings: number;
  readonly clearAfterMs: number;
  readonly severity: Severity;
}

/** A reading against the mean and sd of the last `n` readings, or of the last `overMs`. */
export interface ZScorePlan extends LifecycleFields {
  readonly type: "zscore";
  readonly threshold: number;
  readonly minSamples: number;
  /** readings in the window; 0 when the window is a time span */
  readonly n: number;
  /** pane length of a time-span window (ZSCORE_PANES panes); 0 for a count */
  readonly paneMs: number;
}

/** A stuck sensor: values within `epsilon` of each other for `durationMs` or `samples` readings. */
export interface FlatlinePlan extends LifecycleFields {
  readonly type: "flatline";
  readonly epsilon: number;
  /** Infinity when only `samples` is set */
  readonly durationMs: number;
  /** Infinity when only `duration` is set */
  readonly samples: number;
}

/** Each reading against an exponentially weighted mean and variance. */
export interface EwmaPlan extends LifecycleFields {
  readonly type: "ewma";
  /** weight of each new reading: 1 − 2^(−1/halfLife) */
  readonly alpha: number;
  /** the level-shift term's weight; 1 when it is off */
  readonly shortAlpha: number;
  /** √(short half-life): the level term in standard errors */
  readonly shortScale: number;
  readonly threshold: number;
  readonly minSamples: number;
}

/** A robust z-score: median and MAD of the last `n` readings. */
export interface MadPlan extends LifecycleFields {
  readonly type: "mad";
  readonly n: number;
  readonly threshold: number;
  readonly minSamples: number;
}

/** A break out of the recent range (agent/engine/detectors/range.ts). */
export interface RangePlan extends LifecycleFields {
  readonly type: "range";
  /** the moving average's weight per reading */
  readonly alpha: number;
  readonly margin: number;
  readonly smoothMargin: number;
  /** readings per block of the range (n / RANGE_BLOCKS, rounded up) */
  readonly blockSize: number;
  readonly minSamples: number;
}

/** Static levels with hysteresis: ±Infinity for a side that is not set. */
export interface ThresholdPlan extends LifecycleFields {
  readonly type: "threshold";
  readonly high: number;
  readonly highClear: number;
  readonly low: number;
  readonly lowClear: number;
  readonly forMs: number;
}

/** Change between consecutive readings, per `perMs`. */
export interface RatePlan extends LifecycleFields {
  readonly type: "rate";
  readonly limit: number;
  readonly perMs: number;
  readonly direction: "both" | "rising" | "falling";
}

/** No reading of a key for `gapMs` of processing time (checked on the engine's tick). */
export interface SilencePlan extends LifecycleFields {
  readonly type: "silence";
  readonly gapMs: number;
}

/** A detector that can be part of a composite (judged on each reading). */
export type PartPlan =
  | ZScorePlan
  | FlatlinePlan
  | EwmaPlan
  | MadPlan
  | RangePlan
  | ThresholdPlan
  | RatePlan;

/** Several detectors judged together; its parts have no lifecycle of their own. */
export interface CompositePlan extends LifecycleFields {
  readonly type: "composite";
  readonly mode: "any" | "all" | "k-of-n" | "max";
  /** detectors that must fire: 1 for any, all of them for all */
  readonly k: number;
  /** for max: the score it fires at */
  readonly threshold: number;
  readonly parts: readonly PartPlan[];
}

export type DetectorPlan = PartPlan | SilencePlan | CompositePlan;

/** A range detector keeps the max and min of this many blocks of readings. */
export const RANGE_BLOCKS = 20;

/** A moving average's weight for each new reading, so that a reading's weight halves every `halfLife` readings. */
function weightOfHalfLife(halfLife: number): number {
  return 1 - 0.5 ** (1 / halfLife);
}

/** A z-score's window, in readings, unless it says otherwise or its rule has a count window. */
export const ZSCORE_DEFAULT_N = 1000;

/** A time-span z-score keeps this many panes of (count, sum, sum of squares). */
export const ZSCORE_PANES = 10;

/** Where alerts are published on the edge broker unless a rule names a local topic. */
export const DEFAULT_ALERT_TOPIC = "brook/{device}/alert/{rule}/{key}";

/** Where a rule's results go. */
export interface OutputPlan {
  /** topic template on the edge broker; undefined: not published locally */
  readonly local: string | undefined;
  /** topic template of the rule's alerts on the edge broker; undefined: not published locally */
  readonly localAlerts: string | undefined;
  readonly upstream: boolean;
  /** upstream priority of the rule's aggregates */
  readonly priority: "bulk" | "aggregate" | "alert";
}

/** The sensor id of each format's readings unless a source says otherwise. */
export const DEFAULT_SENSOR = {
  json: "{topic}",
  number: "{topic}",
  senml: "{name}",
  influx: "{measurement}/{field}",
} as const;

/** Placeholders a source's sensor template may use, by format, beside `{topic}` and `{N}`. */
const SENSOR_NAMES: Record<keyof typeof DEFAULT_SENSOR, readonly string[]> = {
  json: [],
  number: [],
  senml: ["name"],
  influx: ["measurement", "field"],
};

/** The topic the foundation's JSON readings arrive on when a rules file defines no sources. */
export const LEGACY_INGEST_TOPIC = "sensors/+/+";

/** A rule with every default applied and durations turned into milliseconds. */
export interface CompiledRule {
  readonly name: string;
  readonly sensors: string;
  readonly window: WindowPlan;
  readonly allowedLatenessMs: number;
  readonly idleTimeoutMs: number;
  readonly aggregates: readonly string[];
  readonly detectors: readonly DetectorPlan[];
  readonly outputs: OutputPlan;
  /** only readings of this source; undefined: every source */
  readonly source: string | undefined;
  readonly tags: Readonly<Record<string, string>> | undefined;
  readonly filter: { readonly min: number; readonly max: number } | undefined;
}

/** A source with its defaults applied: where readings come from and how they are written. */
export interface CompiledSource {
  readonly name: string;
  readonly topic: string;
  readonly format: "json" | "senml" | "number" | "influx";
  readonly sensor: string;
  readonly valuePath: string;
  readonly timePath: string | undefined;
  readonly sensorPath: string | undefined;
  readonly tagPaths: Readonly<Record<string, string>>;
  readonly timeFormat: "ms" | "s" | "iso8601";
  readonly factor: number;
  readonly offset: number;
}

export type RulesLoadResult =
  | { ok: true; rules: CompiledRule[]; sources: CompiledSource[] }
  | { ok: false; unreadable: boolean; problems: Problem[] };

const validateRulesFile = compileSchema(RulesFile);
const validateSource = compileSchema(Source);
const validateWindow = compileSchema(Window);
const validateDetector = compileSchema(Detector);
const validateOutputs = compileSchema(Outputs);

/** The objects of a list, with their positions in it. */
function objects(list: unknown): [number, Record<string, unknown>][] {
  if (!Array.isArray(list)) return [];
  const out: [number, Record<string, unknown>][] = [];
  list.forEach((item, i) => {
    if (item !== null && typeof item === "object" && !Array.isArray(item))
      out.push([i, item as Record<string, unknown>]);
  });
  return out;
}

/** Problems in the order of the file (stable for problems at one place). */
function byPosition(problems: Problem[]): Problem[] {
  const pos = (p: Problem) => {
    const m = /:(\d+):(\d+)$/.exec(p.where);
    return m === null ? [0, 0] : [Number(m[1]), Number(m[2])];
  };
  return problems
    .map((p, i) => ({ p, i, at: pos(p) }))
    .sort(
      (a, b) =>
        (a.at[0] as number) - (b.at[0] as number) ||
        (a.at[1] as number) - (b.at[1] as number) ||
        a.i - b.i,
    )
    .map((x) => x.p);
}

export function loadRulesFile(file: string): RulesLoadResult {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    return {
      ok: false,
      unreadable: true,
      problems: [{ where: file, path: "", message: `cannot read (${reason})` }],
    };
  }
  return parseRules(file, text);
}

export function parseRules(file: string, text: string): RulesLoadResult {
  const doc = parseYamlDocument(file, text);
  if (doc.problems.length > 0) return { ok: false, unreadable: false, problems: doc.problems };
  if (doc.value === null || doc.value === undefined) {
    return {
      ok: false,
      unreadable: false,
      problems: [
        { where: `${file}:1:1`, path: "", message: "the file is empty: it needs a `rules:` list" },
      ],
    };
  }
  const schemaOk = validateRulesFile(doc.value);
  const problems = schemaOk ? [] : schemaProblems(validateRulesFile.errors ?? [], doc.locate);
  // Facts across fields are checked wherever the fields they read are valid, so one run
  // reports them beside the schema's problems.
  const raw = doc.value as { sources?: unknown; rules?: unknown };
  // A part of a valid file is valid: only a file the schema refused is checked part by part.
  const valid = (validate: (item: unknown) => boolean, item: unknown) => schemaOk || validate(item);
  const rawSources = objects(raw.sources);
  const rawRules = objects(raw.rules);
  const at = (list: string, i: number) => (path: (string | number)[], message: string) =>
    problems.push({
      where: doc.locate([list, i, ...path]),
      path: [list, i, ...path].join("."),
      message,
    });
  /** Names seen so far in a list; a second use of one is a problem. */
  const uniqueName = (
    names: Set<string>,
    what: string,
    item: Record<string, unknown>,
    problem: ReturnType<typeof at>,
  ) => {
    if (typeof item.name !== "string") return;
    if (names.has(item.name)) problem(["name"], `duplicate ${what} name "${item.name}"`);
    names.add(item.name);
  };
  const sourceNames = new Set<string>();
  for (const [i, source] of rawSources) {
    const problem = at("sources", i);
    uniqueName(sourceNames, "source", source, problem);
    const bad = typeof source.topic === "string" ? topicFilterProblem(source.topic) : undefined;
    if (bad !== undefined) problem(["topic"], bad);
    const badSensor = sensorTemplateProblem(source);
    if (badSensor !== undefined) problem(["sensor"], badSensor);
    if (typeof source.format === "string" && source.format !== "json")
      for (const field of ["fields", "time"])
        if (source[field] !== undefined)
          problem([field], `only json sources have ${field} (this one is ${source.format})`);
  }
  const validSources = Array.isArray(raw.sources)
    ? rawSources.filter(([, s]) => valid(validateSource, s)).map(([, s]) => s as SourceSpec)
    : undefined;
  const ruleNames = new Set<string>();
  for (const [i, rule] of rawRules) {
    const problem = at("rules", i);
    uniqueName(ruleNames, "rule", rule, problem);
    if (typeof rule.source === "string" && !sourceNames.has(rule.source)) {
      problem(
        ["source"],
        sourceNames.size === 0
          ? `no source "${rule.source}": the file defines no sources`
          : `no source "${rule.source}" (sources: ${[...sourceNames].join(", ")})`,
      );
    }
    const filter = rule.filter as { min?: unknown; max?: unknown } | undefined;
    if (
      typeof filter?.min === "number" &&
      typeof filter.max === "number" &&
      filter.min > filter.max
    )
      problem(["filter", "max"], "must be at least filter.min");
    const windowOk = rule.window === undefined || valid(validateWindow, rule.window);
    const detectors = rule.detectors;
    const detectorsOk =
      detectors === undefined ||
      (Array.isArray(detectors) && detectors.every((d) => valid(validateDetector, d)));
    const spec = rule as RuleSpec;
    if (windowOk)
      for (const p of windowProblems(spec.window)) problem(["window", p.field], p.message);
    if (detectorsOk)
      for (const p of detectorProblems(spec, windowOk))
        problem(["detectors", ...p.path], p.message);
    if (
      Array.isArray(rule.aggregates) &&
      rule.aggregates.length === 0 &&
      (detectors === undefined || (Array.isArray(detectors) && detectors.length === 0))
    )
      problem(["aggregates"], "a rule with no aggregates needs a detector, or it reports nothing");
    if (rule.outputs === undefined || valid(validateOutputs, rule.outputs))
      for (const p of outputProblems(spec, validSources)) problem(["outputs", p.field], p.message);
  }
  if (problems.length > 0) return { ok: false, unreadable: false, problems: byPosition(problems) };
  const spec = doc.value as RulesFileSpec;
  return {
    ok: true,
    rules: spec.rules.map(compileRule),
    sources: (spec.sources ?? []).map(compileSource),
  };
}

function sensorTemplateProblem(source: Record<string, unknown>): string | undefined {
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
function detectorProblems(rule: RuleSpec, windowOk: boolean): PathProblem[] {
  const out: PathProblem[] = [];
  const seen = new Set<string>();
  (rule.detectors ?? []).forEach((d: DetectorSpec, i) => {
    if (seen.has(d.type)) out.push({ path: [i, "type"], message: `a second ${d.type} detector` });
    seen.add(d.type);
    if (
      d.type === "silence" &&
      rule.idleTimeout !== undefined &&
      ms(rule.idleTimeout, 0) <= ms(d.gap, 0)
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
    if (value !== undefined && ms(value, 0) === 0)
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

function outputProblems(
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
    [LEGACY_INGEST_TOPIC, "the agent's input"],
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

/** Whether a rule's alerts go to the edge broker when it names no local topic. */
function localAlertsOn(rule: RuleSpec): boolean {
  return (rule.detectors?.length ?? 0) > 0 && rule.outputs?.localAlerts !== false;
}

function ms(d: string | undefined, fallback: number): number {
  return d === undefined ? fallback : (parseDuration(d) as number);
}

function windowProblems(w: WindowSpec | undefined): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  if (w === undefined || w.type === "count") return out;
  if (w.type === "session") {
    if (ms(w.gap, 1) === 0) out.push({ field: "gap", message: "must be longer than 0" });
    if (w.maxDuration !== undefined && ms(w.maxDuration, 0) < ms(w.gap, 0))
      out.push({ field: "maxDuration", message: "must be at least the gap" });
    return out;
  }
  const size = ms(w.size, DEFAULT_WINDOW_MS);
  if (size === 0) out.push({ field: "size", message: "must be longer than 0" });
  if (w.type === "hopping") {
    const hop = ms(w.hop, 0);
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
    const res = ms(w.resolution, 0);
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
    ms(w.offset, 0) >= (w.type === "hopping" ? ms(w.hop, size) : size)
  ) {
    out.push({ field: "offset", message: "must be shorter than the window's hop (or size)" });
  }
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function compileWindow(w: WindowSpec | undefined): WindowPlan {
  if (w === undefined)
    return {
      type: "tumbling",
      sizeMs: DEFAULT_WINDOW_MS,
      hopMs: DEFAULT_WINDOW_MS,
      paneMs: DEFAULT_WINDOW_MS,
      offsetMs: 0,
    };
  switch (w.type) {
    case "count":
      return { type: "count", n: w.n, every: w.every ?? 1 };
    case "session":
      return {
        type: "session",
        gapMs: ms(w.gap, 0),
        maxDurationMs: w.maxDuration === undefined ? undefined : ms(w.maxDuration, 0),
      };
    case "tumbling": {
      const size = ms(w.size, DEFAULT_WINDOW_MS);
      return {
        type: "tumbling",
        sizeMs: size,
        hopMs: size,
        paneMs: size,
        offsetMs: ms(w.offset, 0),
      };
    }
    case "hopping": {
      const size = ms(w.size, 0);
      const hop = ms(w.hop, 0);
      return {
        type: "hopping",
        sizeMs: size,
        hopMs: hop,
        paneMs: gcd(size, hop),
        offsetMs: ms(w.offset, 0),
      };
    }
    case "sliding": {
      const size = ms(w.size, 0);
      const pane =
        w.resolution === undefined
          ? size / (SLIDING_PANES.find((k) => size % k === 0) ?? 1)
          : ms(w.resolution, 0);
      return { type: "sliding", sizeMs: size, hopMs: pane, paneMs: pane, offsetMs: 0 };
    }
  }
}

/** How long a window can stay open: its span in event time. */
function windowSpanMs(w: WindowPlan): number {
  if (w.type === "count") return COUNT_IDLE_MS;
  if (w.type === "session") return w.gapMs;
  return w.sizeMs;
}

export function compileRule(rule: RuleSpec): CompiledRule {
  // A rule that only runs detectors keeps the smallest window state.
  const window = compileWindow(
    rule.window === undefined && rule.aggregates?.length === 0
      ? { type: "count", n: 1 }
      : rule.window,
  );
  const lateness = ms(rule.allowedLateness, 0);
  // A z-score without its own n reads the rule's count window, if the rule has one.
  const explicitCount = rule.window?.type === "count" ? rule.window.n : undefined;
  const detectors = (rule.detectors ?? []).map((d) => compileDetector(d, explicitCount));
  return Object.freeze({
    name: rule.name,
    sensors: rule.sensors ?? "*",
    window: Object.freeze(window),
    allowedLatenessMs: lateness,
    // A key's state outlives a gap in its readings as long as its window, or its detectors' spans.
    idleTimeoutMs: ms(
      rule.idleTimeout,
      Math.max(MIN_IDLE_MS, windowSpanMs(window) + lateness, ...detectors.map(detectorSpanMs)),
    ),
    aggregates: Object.freeze([...(rule.aggregates ?? DEFAULT_AGGREGATES)]),
    detectors: Object.freeze(detectors),
    outputs: Object.freeze({
      local: rule.outputs?.local,
      localAlerts: localAlertsOn(rule) ? (rule.outputs?.local ?? DEFAULT_ALERT_TOPIC) : undefined,
      upstream: rule.outputs?.upstream ?? true,
      priority: rule.outputs?.priority ?? "aggregate",
    }),
    source: rule.source,
    tags: rule.tags === undefined ? undefined : Object.freeze({ ...rule.tags }),
    filter:
      rule.filter === undefined
        ? undefined
        : Object.freeze({
            min: rule.filter.min ?? Number.NEGATIVE_INFINITY,
            max: rule.filter.max ?? Number.POSITIVE_INFINITY,
          }),
  });
}

/** How long a key's detector state is worth keeping through a gap in its readings. */
function detectorSpanMs(d: DetectorPlan): number {
  switch (d.type) {
    case "ewma":
    case "mad":
    case "range":
      return EWMA_IDLE_MS;
    case "silence":
      // Kept well past the gap, so readings that come back resolve the alert.
      return Math.max(EWMA_IDLE_MS, 2 * d.gapMs);
    case "zscore":
      return d.paneMs * ZSCORE_PANES;
    case "flatline":
      return Number.isFinite(d.durationMs) ? d.durationMs : 0;
    case "threshold":
      return d.forMs;
    case "rate":
      return d.perMs;
    case "composite":
      return Math.max(0, ...d.parts.map(detectorSpanMs));
  }
}

function lifecycleOf(d: {
  cooldown?: string;
  cooldownReadings?: number;
  clearAfter?: string;
  severity?: Severity;
}) {
  return {
    cooldownMs: ms(d.cooldown, 0),
    cooldownReadings: d.cooldownReadings ?? 0,
    clearAfterMs: ms(d.clearAfter, 0),
    severity: d.severity ?? "warning",
  };
}

function compileDetector(d: DetectorSpec, explicitCount: number | undefined): DetectorPlan {
  if (d.type === "silence")
    return Object.freeze({
      type: "silence",
      gapMs: ms(d.gap, 0),
      ...lifecycleOf({ severity: d.severity }),
    });
  if (d.type === "composite") {
    const mode = d.mode ?? "any";
    return Object.freeze({
      type: "composite",
      mode,
      k: mode === "all" ? d.detectors.length : (d.k ?? 1),
      threshold: d.threshold ?? 0.5,
      parts: Object.freeze(d.detectors.map((p) => compilePart(p, explicitCount))),
      ...lifecycleOf(d),
    });
  }
  return compilePart(d, explicitCount);
}

function compilePart(d: PartSpec, explicitCount: number | undefined): PartPlan {
  const life = lifecycleOf(d);
  switch (d.type) {
    case "zscore": {
      const overMs = ms(d.over, 0);
      return Object.freeze({
        type: "zscore",
        threshold: d.threshold ?? 3,
        minSamples: d.minSamples ?? 10,
        n: overMs > 0 ? 0 : (d.n ?? explicitCount ?? ZSCORE_DEFAULT_N),
        paneMs: overMs / ZSCORE_PANES,
        ...life,
      });
    }
    case "ewma":
      return Object.freeze({
        type: "ewma",
        alpha: weightOfHalfLife(d.halfLife ?? 300),
        shortAlpha: d.shortHalfLife === undefined ? 1 : weightOfHalfLife(d.shortHalfLife),
        shortScale: Math.sqrt(d.shortHalfLife ?? 1),
        threshold: d.threshold ?? 5,
        minSamples: d.minSamples ?? 30,
        ...life,
      });
    case "flatline":
      return Object.freeze({
        type: "flatline",
        epsilon: d.epsilon ?? 0,
        durationMs: d.duration === undefined ? Number.POSITIVE_INFINITY : ms(d.duration, 0),
        samples: d.samples ?? Number.POSITIVE_INFINITY,
        ...life,
      });
    case "mad":
      return Object.freeze({
        type: "mad",
        n: d.n ?? 60,
        threshold: d.threshold ?? 3.5,
        minSamples: d.minSamples ?? 10,
        ...life,
      });
    case "range":
      return Object.freeze({
        type: "range",
        alpha: weightOfHalfLife(d.halfLife ?? 10),
        margin: d.margin ?? 0.02,
        smoothMargin: d.smoothMargin ?? 0.05,
        blockSize: Math.ceil((d.n ?? 1000) / RANGE_BLOCKS),
        minSamples: d.minSamples ?? 30,
        ...life,
        // Its NAB calibration: one alert per break, not one per reading of it.
        cooldownReadings: d.cooldownReadings ?? 100,
      });
    case "threshold":
      return Object.freeze({
        type: "threshold",
        high: d.high ?? Number.POSITIVE_INFINITY,
        highClear: d.highClear ?? d.high ?? Number.POSITIVE_INFINITY,
        low: d.low ?? Number.NEGATIVE_INFINITY,
        lowClear: d.lowClear ?? d.low ?? Number.NEGATIVE_INFINITY,
        forMs: ms(d.for, 0),
        ...life,
      });
    case "rate":
      return Object.freeze({
        type: "rate",
        limit: d.limit,
        perMs: ms(d.per, 1000),
        direction: d.direction ?? "both",
        ...life,
      });
  }
}

export function compileSource(source: SourceSpec): CompiledSource {
  return Object.freeze({
    name: source.name,
    topic: source.topic,
    format: source.format ?? "json",
    sensor: source.sensor ?? DEFAULT_SENSOR[source.format ?? "json"],
    valuePath: source.fields?.value ?? "value",
    timePath: source.fields?.time ?? "ts",
    sensorPath: source.fields?.sensor,
    tagPaths: Object.freeze({ ...(source.fields?.tags ?? {}) }),
    timeFormat: source.time ?? "ms",
    factor: source.scale?.factor ?? 1,
    offset: source.scale?.offset ?? 0,
  });
}

/** The rule used when the config names no rules file. */
export const DEFAULT_RULES: readonly CompiledRule[] = Object.freeze([
  compileRule({ name: "default", window: { type: "tumbling" } }),
]);
