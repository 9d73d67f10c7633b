/** Loads and checks a rules file; returns every problem found, never just the first. */
import { readFileSync } from "node:fs";
import { parseDuration } from "./duration.js";
import { type RuleSpec, RulesFile, type RulesFileSpec, type WindowSpec } from "./schema.js";
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
}

export type RulesLoadResult =
  | { ok: true; rules: CompiledRule[] }
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
  const names = new Set<string>();
  spec.rules.forEach((rule, i) => {
    const problem = (path: (string | number)[], message: string) =>
      problems.push({
        where: doc.locate(["rules", i, ...path]),
        path: ["rules", i, ...path].join("."),
        message,
      });
    if (names.has(rule.name)) problem(["name"], `duplicate rule name "${rule.name}"`);
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
  return { ok: true, rules: spec.rules.map(compileRule) };
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
  });
}

/** The rule used when the config names no rules file. */
export const DEFAULT_RULES: readonly CompiledRule[] = Object.freeze([
  compileRule({ name: "default", window: { type: "tumbling" } }),
]);
