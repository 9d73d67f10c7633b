/**
 * Mergeable aggregate state in typed arrays: each accumulator is FIELDS consecutive
 * Float64Array slots, so panes of a window live in one array and combine by `accMerge`
 * (CONVENTIONS.md 10). Variance uses Welford's update and Chan's merge. `first`/`last`
 * are by event time (ties broken by value), so the result does not depend on arrival order.
 */
import { DDSketch } from "./ddsketch.js";

export const FIELDS = 10;
const COUNT = 0;
const SUM = 1;
const MEAN = 2;
const M2 = 3;
const MIN = 4;
const MAX = 5;
const FIRST_TS = 6;
const FIRST = 7;
const LAST_TS = 8;
const LAST = 9;

export function accReset(a: Float64Array, o: number): void {
  a[o + COUNT] = 0;
  a[o + SUM] = 0;
  a[o + MEAN] = 0;
  a[o + M2] = 0;
  a[o + MIN] = Number.POSITIVE_INFINITY;
  a[o + MAX] = Number.NEGATIVE_INFINITY;
  a[o + FIRST_TS] = Number.POSITIVE_INFINITY;
  a[o + FIRST] = 0;
  a[o + LAST_TS] = Number.NEGATIVE_INFINITY;
  a[o + LAST] = 0;
}

export function accCount(a: Float64Array, o: number): number {
  return a[o + COUNT] as number;
}

export function accAdd(a: Float64Array, o: number, ts: number, x: number): void {
  const n = (a[o + COUNT] as number) + 1;
  a[o + COUNT] = n;
  a[o + SUM] = (a[o + SUM] as number) + x;
  const mean = a[o + MEAN] as number;
  const delta = x - mean;
  const newMean = mean + delta / n;
  a[o + MEAN] = newMean;
  a[o + M2] = (a[o + M2] as number) + delta * (x - newMean);
  if (x < (a[o + MIN] as number)) a[o + MIN] = x;
  if (x > (a[o + MAX] as number)) a[o + MAX] = x;
  const firstTs = a[o + FIRST_TS] as number;
  if (ts < firstTs || (ts === firstTs && x < (a[o + FIRST] as number))) {
    a[o + FIRST_TS] = ts;
    a[o + FIRST] = x;
  }
  const lastTs = a[o + LAST_TS] as number;
  if (ts > lastTs || (ts === lastTs && x > (a[o + LAST] as number))) {
    a[o + LAST_TS] = ts;
    a[o + LAST] = x;
  }
}

/** dst[d] ← dst[d] ⊕ src[s] */
export function accMerge(dst: Float64Array, d: number, src: Float64Array, s: number): void {
  const nb = src[s + COUNT] as number;
  if (nb === 0) return;
  const na = dst[d + COUNT] as number;
  if (na === 0) {
    for (let i = 0; i < FIELDS; i++) dst[d + i] = src[s + i] as number;
    return;
  }
  const n = na + nb;
  const ma = dst[d + MEAN] as number;
  const delta = (src[s + MEAN] as number) - ma;
  dst[d + COUNT] = n;
  dst[d + SUM] = (dst[d + SUM] as number) + (src[s + SUM] as number);
  dst[d + MEAN] = ma + (delta * nb) / n;
  dst[d + M2] = (dst[d + M2] as number) + (src[s + M2] as number) + (delta * delta * na * nb) / n;
  if ((src[s + MIN] as number) < (dst[d + MIN] as number)) dst[d + MIN] = src[s + MIN] as number;
  if ((src[s + MAX] as number) > (dst[d + MAX] as number)) dst[d + MAX] = src[s + MAX] as number;
  const sft = src[s + FIRST_TS] as number;
  const dft = dst[d + FIRST_TS] as number;
  if (sft < dft || (sft === dft && (src[s + FIRST] as number) < (dst[d + FIRST] as number))) {
    dst[d + FIRST_TS] = sft;
    dst[d + FIRST] = src[s + FIRST] as number;
  }
  const slt = src[s + LAST_TS] as number;
  const dlt = dst[d + LAST_TS] as number;
  if (slt > dlt || (slt === dlt && (src[s + LAST] as number) > (dst[d + LAST] as number))) {
    dst[d + LAST_TS] = slt;
    dst[d + LAST] = src[s + LAST] as number;
  }
}

/** Which aggregates a rule asks for, parsed once. */
export interface AggSpec {
  readonly names: readonly string[];
  /** quantile q per name, for names like p50 or p99.9 */
  readonly quantiles: ReadonlyMap<string, number>;
  readonly needsSketch: boolean;
}

export function aggSpec(names: readonly string[]): AggSpec {
  const quantiles = new Map<string, number>();
  for (const name of names) {
    // The only names the checker lets through that start with "p" are quantiles, `pQ` (0 ≤ Q ≤ 100).
    if (name.startsWith("p")) quantiles.set(name, Number(name.slice(1)) / 100);
  }
  return { names: [...names], quantiles, needsSketch: quantiles.size > 0 };
}

export type Aggregates = Record<string, number | null>;

/**
 * The requested aggregates of one accumulator. Sample variance and stddev (n − 1) are
 * null below two readings; rate (change of value per second between the first and the
 * last reading) is null when they share a timestamp. Quantiles come from the sketch
 * (within 1 %), clamped to the exact min and max.
 */
export function accFinish(
  a: Float64Array,
  o: number,
  spec: AggSpec,
  sketch: DDSketch | undefined,
): Aggregates {
  const out: Aggregates = {};
  const n = a[o + COUNT] as number;
  for (const name of spec.names) {
    switch (name) {
      case "count":
        out.count = n;
        break;
      case "sum":
        out.sum = a[o + SUM] as number;
        break;
      case "mean":
        out.mean = (a[o + SUM] as number) / n;
        break;
      case "min":
        out.min = a[o + MIN] as number;
        break;
      case "max":
        out.max = a[o + MAX] as number;
        break;
      case "variance":
        out.variance = n < 2 ? null : (a[o + M2] as number) / (n - 1);
        break;
      case "stddev":
        out.stddev = n < 2 ? null : Math.sqrt((a[o + M2] as number) / (n - 1));
        break;
      case "first":
        out.first = a[o + FIRST] as number;
        break;
      case "last":
        out.last = a[o + LAST] as number;
        break;
      case "rate": {
        const dt = (a[o + LAST_TS] as number) - (a[o + FIRST_TS] as number);
        out.rate =
          dt === 0 ? null : (((a[o + LAST] as number) - (a[o + FIRST] as number)) * 1000) / dt;
        break;
      }
      default: {
        const q = spec.quantiles.get(name);
        // The sketch's answer is within 1 % of the true quantile, which lies within [min, max].
        out[name] =
          q === undefined || sketch === undefined
            ? null
            : Math.min(a[o + MAX] as number, Math.max(a[o + MIN] as number, sketch.quantile(q)));
      }
    }
  }
  return out;
}

/** Running mean and sample standard deviation of one accumulator (for detectors). */
export function accMean(a: Float64Array, o: number): number {
  return a[o + MEAN] as number;
}

export function accStddev(a: Float64Array, o: number): number {
  const n = a[o + COUNT] as number;
  return n < 2 ? 0 : Math.sqrt((a[o + M2] as number) / (n - 1));
}

export { DDSketch };
