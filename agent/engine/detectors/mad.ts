/**
 * The robust z-score: a reading's distance from the median of the last `n` readings, in
 * median absolute deviations — Iglewicz and Hoaglin's modified z-score, 0.6745·|x − m|/MAD
 * (0.6745 makes it comparable with a z-score on normal data). One outlier moves neither the
 * median nor the MAD, so a burst of spikes does not hide itself as it would from a mean and
 * sd. Where more than half the window is one value (MAD 0) it falls back to the mean
 * absolute deviation, ×1.2533 (as for normal data). Memory: the window as a ring and the
 * same values sorted, 2n numbers; each reading costs O(n) moves and O(n) for the MAD.
 */
import type { MadPlan } from "../../compile/plan.js";
import { type DetectorKind, judgeStat, quiet } from "./verdict.js";

const FILLED = 0;
const HEAD = 1;
const RING = 2;
const Z = 0.6745;
const MEAN_AD = 1.2533;

export const mad: DetectorKind<MadPlan> = {
  slots: (plan) => RING + 2 * plan.n,
  judge(plan, s, o, r, _open, v) {
    const x = r.value;
    const n = plan.n;
    const filled = s[o + FILLED] as number;
    const sorted = o + RING + n; // the window's values in order, `filled` of them
    if (filled < plan.minSamples) quiet(v, plan.threshold);
    else {
      const median = medianOf(s, sorted, filled);
      let spread = madOf(s, sorted, filled, median);
      if (spread === 0) spread = meanAbsDev(s, sorted, filled, median) * MEAN_AD * Z;
      const z = spread === 0 ? 0 : (Z * Math.abs(x - median)) / spread;
      judgeStat(v, z, plan.threshold, median, spread / Z);
    }
    const head = s[o + HEAD] as number;
    let m = filled;
    if (filled === n) {
      const old = s[o + RING + head] as number;
      const at = lowerBound(s, sorted, m, old);
      s.copyWithin(sorted + at, sorted + at + 1, sorted + m);
      m--;
    } else {
      s[o + FILLED] = filled + 1;
    }
    const at = lowerBound(s, sorted, m, x);
    s.copyWithin(sorted + at + 1, sorted + at, sorted + m);
    s[sorted + at] = x;
    s[o + RING + head] = x;
    s[o + HEAD] = head + 1 === n ? 0 : head + 1;
  },
};

/** The first index in sorted[0, m) whose value is ≥ x. */
function lowerBound(s: Float64Array, sorted: number, m: number, x: number): number {
  let lo = 0;
  let hi = m;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((s[sorted + mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function medianOf(s: Float64Array, sorted: number, m: number): number {
  const h = m >>> 1;
  return m % 2 === 1
    ? (s[sorted + h] as number)
    : ((s[sorted + h - 1] as number) + (s[sorted + h] as number)) / 2;
}

/**
 * The median of |x − median| over a sorted window: the deviations below the median grow
 * leftwards and those above grow rightwards, so a two-way merge from the middle visits them
 * in order; the middle one (or two) is the MAD.
 */
function madOf(s: Float64Array, sorted: number, m: number, median: number): number {
  const h = m >>> 1;
  const odd = m % 2 === 1;
  let left = h - 1;
  // With m odd the median is a reading, deviation 0: the first in order, taken already.
  let right = odd ? h + 1 : h;
  let k = odd ? 1 : 0;
  if (k > h) return 0; // one reading
  let prev = 0;
  for (;;) {
    const dl = left >= 0 ? median - (s[sorted + left] as number) : Number.POSITIVE_INFINITY;
    const dr = right < m ? (s[sorted + right] as number) - median : Number.POSITIVE_INFINITY;
    const d = dl <= dr ? dl : dr;
    if (dl <= dr) left--;
    else right++;
    if (k === h) return odd ? d : (prev + d) / 2;
    prev = d;
    k++;
  }
}

function meanAbsDev(s: Float64Array, sorted: number, m: number, median: number): number {
  let total = 0;
  for (let i = 0; i < m; i++) total += Math.abs((s[sorted + i] as number) - median);
  return total / m;
}
