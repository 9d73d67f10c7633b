/**
 * What every detector makes of one reading, and the shape of a detector: a pure step over
 * a slice of the key's Float64Array (CONVENTIONS.md 1), so memory per key is constant (or
 * bounded by the detector's window) and a checkpoint holds it as it is.
 */
import type { Reading } from "../types.js";

/** One detector's judgement of one reading (a scratch object, overwritten by the next). */
export interface Verdict {
  /** the reading crosses the detector's threshold */
  fired: boolean;
  /** anomaly score in [0, 1]: 0.5 at the threshold */
  score: number;
  /** the detector's statistic (a z-score, a rate, …), compared with `threshold` */
  stat: number;
  threshold: number;
  /** the context the reading was judged in (NaN where a detector has none) */
  mean: number;
  stddev: number;
  /** flatline: the stuck run's first reading's time and its length */
  since: number;
  samples: number;
  /** composite: a bit per part that fired */
  parts: number;
}

export function newVerdict(): Verdict {
  return {
    fired: false,
    score: 0,
    stat: 0,
    threshold: 0,
    mean: Number.NaN,
    stddev: Number.NaN,
    since: Number.NaN,
    samples: Number.NaN,
    parts: 0,
  };
}

/** Resets a verdict to "nothing to see": score 0, not fired, no context. */
export function quiet(v: Verdict, threshold: number): void {
  v.fired = false;
  v.score = 0;
  v.stat = 0;
  v.threshold = threshold;
  v.mean = Number.NaN;
  v.stddev = Number.NaN;
  v.since = Number.NaN;
  v.samples = Number.NaN;
  v.parts = 0;
}

/** A statistic against its threshold: fired above it, score s/(s + k), 0.5 at the threshold. */
export function judgeStat(
  v: Verdict,
  stat: number,
  threshold: number,
  mean: number,
  stddev: number,
): void {
  v.fired = stat > threshold;
  v.score = stat / (stat + threshold);
  v.stat = stat;
  v.threshold = threshold;
  v.mean = mean;
  v.stddev = stddev;
  v.since = Number.NaN;
  v.samples = Number.NaN;
  v.parts = 0;
}

/**
 * A detector kind: how many slots a plan needs, and its step. `open`: whether the detector's
 * alert is open (detectors with hysteresis judge differently then). The step judges the
 * reading against the state before it, then adds the reading to the state.
 */
export interface DetectorKind<P> {
  slots(plan: P): number;
  judge(plan: P, slots: Float64Array, o: number, r: Reading, open: boolean, v: Verdict): void;
}
