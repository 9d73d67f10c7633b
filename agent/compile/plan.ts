/**
 * The engine's plan: a rules spec compiled (agent/compile/compile.ts) into windows with
 * durations in ms and pane lengths decided, detectors with every default applied, and
 * where each rule's results go. The engine imports these types and constants only.
 */

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
/** A time-span z-score keeps this many panes of (count, sum, sum of squares). */
export const ZSCORE_PANES = 10;
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
