/** Loads and checks a rules file; returns every problem found, never just the first. */
import { readFileSync } from "node:fs";
import { parseDuration } from "./duration.js";
import {
  type RuleSpec,
  RulesFile,
  type RulesFileSpec,
  type SourceSpec,
  type WindowSpec,
} from "./schema.js";
import { compileSchema, type Problem, parseYamlDocument, schemaProblems } from "./validate-yaml.js";

export const DEFAULT_WINDOW_MS = 60_000;
export const DEFAULT_AGGREGATES: readonly string[] = ["count", "mean", "min", "max"];
const MIN_IDLE_MS = 60_000;
const COUNT_IDLE_MS = 300_000;
/** Sliding windows keep this many panes per window unless `resolution` says otherwise. */
const SLIDING_PANES = [60, 50, 40, 30, 25, 20, 10, 8, 5, 4, 2, 1];

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

export interface ZScorePlan {
  readonly threshold: number;
  readonly minSamples: number;
}

/** A rule with every default applied and durations turned into milliseconds. */
export interface CompiledRule {
  readonly name: string;
  readonly sensors: string;
  readonly window: WindowPlan;
  readonly allowedLatenessMs: number;
  readonly idleTimeoutMs: number;
  readonly aggregates: readonly string[];
  readonly zscore: ZScorePlan | undefined;
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
  if (!validateRulesFile(doc.value)) {
    return {
      ok: false,
      unreadable: false,
      problems: schemaProblems(validateRulesFile.errors ?? [], doc.locate),
    };
  }
  const spec = doc.value as RulesFileSpec;
  const problems: Problem[] = [];
  const sourceNames = new Set<string>();
  (spec.sources ?? []).forEach((source, i) => {
    const problem = (path: (string | number)[], message: string) =>
      problems.push({
        where: doc.locate(["sources", i, ...path]),
        path: ["sources", i, ...path].join("."),
        message,
      });
    if (sourceNames.has(source.name)) problem(["name"], `duplicate source name "${source.name}"`);
    sourceNames.add(source.name);
    const bad = topicFilterProblem(source.topic);
    if (bad !== undefined) problem(["topic"], bad);
  });
  const names = new Set<string>();
  spec.rules.forEach((rule, i) => {
    const problem = (path: (string | number)[], message: string) =>
      problems.push({
        where: doc.locate(["rules", i, ...path]),
        path: ["rules", i, ...path].join("."),
        message,
      });
    if (names.has(rule.name)) problem(["name"], `duplicate rule name "${rule.name}"`);
    if (rule.source !== undefined && !sourceNames.has(rule.source)) {
      problem(
        ["source"],
        sourceNames.size === 0
          ? `no source "${rule.source}": the file defines no sources`
          : `no source "${rule.source}" (sources: ${[...sourceNames].join(", ")})`,
      );
    }
    if (
      rule.filter?.min !== undefined &&
      rule.filter.max !== undefined &&
      rule.filter.min > rule.filter.max
    ) {
      problem(["filter", "max"], "must be at least filter.min");
    }
    names.add(rule.name);
    for (const p of windowProblems(rule.window)) problem(["window", p.field], p.message);
    if (
      rule.detectors !== undefined &&
      rule.detectors.length > 0 &&
      rule.window?.type !== "count"
    ) {
      problem(
        ["detectors"],
        "zscore needs a count window (more detectors come with anomaly detection)",
      );
    }
  });
  if (problems.length > 0) return { ok: false, unreadable: false, problems };
  return {
    ok: true,
    rules: spec.rules.map(compileRule),
    sources: (spec.sources ?? []).map(compileSource),
  };
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
  }
  if (w.type === "sliding" && w.resolution !== undefined) {
    const res = ms(w.resolution, 0);
    if (res === 0 || size % res !== 0)
      out.push({ field: "resolution", message: `must divide the size (${w.size}) evenly` });
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
  const window = compileWindow(rule.window);
  const lateness = ms(rule.allowedLateness, 0);
  const z = rule.detectors?.find((d) => d.type === "zscore");
  return Object.freeze({
    name: rule.name,
    sensors: rule.sensors ?? "*",
    window: Object.freeze(window),
    allowedLatenessMs: lateness,
    idleTimeoutMs: ms(rule.idleTimeout, Math.max(MIN_IDLE_MS, windowSpanMs(window) + lateness)),
    aggregates: Object.freeze([...(rule.aggregates ?? DEFAULT_AGGREGATES)]),
    zscore:
      z === undefined
        ? undefined
        : Object.freeze({ threshold: z.threshold ?? 3, minSamples: z.minSamples ?? 10 }),
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

export function compileSource(source: SourceSpec): CompiledSource {
  return Object.freeze({
    name: source.name,
    topic: source.topic,
    format: source.format ?? "json",
    sensor: source.sensor ?? "{topic}",
    valuePath: source.fields?.value ?? "value",
    timePath: source.fields?.time ?? "ts",
    sensorPath: source.fields?.sensor,
    tagPaths: Object.freeze({ ...(source.fields?.tags ?? {}) }),
    timeFormat: source.time ?? "ms",
    factor: source.scale?.factor ?? 1,
    offset: source.scale?.offset ?? 0,
  });
}

/** Why `filter` is not a valid MQTT topic filter, or undefined when it is. */
export function topicFilterProblem(filter: string): string | undefined {
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1))
      return "'#' must be a whole level, and the last";
    if (level.includes("+") && level !== "+") return "'+' must be a whole level";
  }
  return undefined;
}

/** The rule used when the config names no rules file. */
export const DEFAULT_RULES: readonly CompiledRule[] = Object.freeze([
  compileRule({ name: "default", window: { type: "tumbling" } }),
]);
