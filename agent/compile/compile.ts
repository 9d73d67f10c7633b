/**
 * Rules spec → engine plan: every default applied, durations in ms, pane lengths and
 * detector weights decided once (the engine never re-derives them per reading).
 */

import { gcd } from "../../rules/checks.js";
import {
  DEFAULT_AGGREGATES,
  DEFAULT_ALERT_TOPIC,
  DEFAULT_SENSOR,
  DEFAULT_WINDOW_MS,
  localAlertsOn,
} from "../../rules/defaults.js";
import { msOr } from "../../rules/duration.js";
import type {
  DetectorSpec,
  PartSpec,
  RuleSpec,
  RulesFileSpec,
  SourceSpec,
  WindowSpec,
} from "../../rules/schema.js";
import {
  type CompiledRule,
  type CompiledSource,
  type DetectorPlan,
  type PartPlan,
  RANGE_BLOCKS,
  type Severity,
  type WindowPlan,
  ZSCORE_PANES,
} from "./plan.js";

const MIN_IDLE_MS = 60_000;
const COUNT_IDLE_MS = 300_000;
/** An EWMA baseline is worth keeping through a day of silence. */
const EWMA_IDLE_MS = 86_400_000;
/** Sliding windows keep this many panes per window unless `resolution` says otherwise. */
const SLIDING_PANES = [60, 50, 40, 30, 25, 20, 10, 8, 5, 4, 2, 1];

/** A moving average's weight for each new reading, so that a reading's weight halves every `halfLife` readings. */
function weightOfHalfLife(halfLife: number): number {
  return 1 - 0.5 ** (1 / halfLife);
}

/** A z-score's window, in readings, unless it says otherwise or its rule has a count window. */
export const ZSCORE_DEFAULT_N = 1000;

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
        gapMs: msOr(w.gap, 0),
        maxDurationMs: w.maxDuration === undefined ? undefined : msOr(w.maxDuration, 0),
      };
    case "tumbling": {
      const size = msOr(w.size, DEFAULT_WINDOW_MS);
      return {
        type: "tumbling",
        sizeMs: size,
        hopMs: size,
        paneMs: size,
        offsetMs: msOr(w.offset, 0),
      };
    }
    case "hopping": {
      const size = msOr(w.size, 0);
      const hop = msOr(w.hop, 0);
      return {
        type: "hopping",
        sizeMs: size,
        hopMs: hop,
        paneMs: gcd(size, hop),
        offsetMs: msOr(w.offset, 0),
      };
    }
    case "sliding": {
      const size = msOr(w.size, 0);
      const pane =
        w.resolution === undefined
          ? size / (SLIDING_PANES.find((k) => size % k === 0) ?? 1)
          : msOr(w.resolution, 0);
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
  const lateness = msOr(rule.allowedLateness, 0);
  // A z-score without its own n reads the rule's count window, if the rule has one.
  const explicitCount = rule.window?.type === "count" ? rule.window.n : undefined;
  const detectors = (rule.detectors ?? []).map((d) => compileDetector(d, explicitCount));
  return Object.freeze({
    name: rule.name,
    sensors: rule.sensors ?? "*",
    window: Object.freeze(window),
    allowedLatenessMs: lateness,
    // A key's state outlives a gap in its readings as long as its window, or its detectors' spans.
    idleTimeoutMs: msOr(
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
    cooldownMs: msOr(d.cooldown, 0),
    cooldownReadings: d.cooldownReadings ?? 0,
    clearAfterMs: msOr(d.clearAfter, 0),
    severity: d.severity ?? "warning",
  };
}

function compileDetector(d: DetectorSpec, explicitCount: number | undefined): DetectorPlan {
  if (d.type === "silence")
    return Object.freeze({
      type: "silence",
      gapMs: msOr(d.gap, 0),
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
      const overMs = msOr(d.over, 0);
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
        durationMs: d.duration === undefined ? Number.POSITIVE_INFINITY : msOr(d.duration, 0),
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
        forMs: msOr(d.for, 0),
        ...life,
      });
    case "rate":
      return Object.freeze({
        type: "rate",
        limit: d.limit,
        perMs: msOr(d.per, 1000),
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

/** A whole rules file's spec compiled: its rules and sources. */
export function compileRules(spec: RulesFileSpec): {
  rules: CompiledRule[];
  sources: CompiledSource[];
} {
  return { rules: spec.rules.map(compileRule), sources: (spec.sources ?? []).map(compileSource) };
}
