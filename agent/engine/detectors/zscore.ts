/**
 * The moving-average z-score: each reading against the mean and standard deviation of the
 * readings before it — the last `n` readings (a ring of n values), or those of the last
 * `over` of event time (ZSCORE_PANES panes of count, sum and sum of squares). Sums are kept
 * relative to a reference value, so large offsets do not cost precision.
 */
import { ZSCORE_PANES, type ZScorePlan } from "../../compile/plan.js";
import { type DetectorKind, judgeStat, quiet, type Verdict } from "./verdict.js";

// Count form: meta slots, then the ring.
const FILLED = 0;
const HEAD = 1;
const REF = 2;
const SUM = 3;
const SUM_SQ = 4;
const SINCE_RECOMPUTE = 5;
const RING = 6;
// Time form: the reference (set by the first reading), then per pane: start, n, sum, sum².
const T_REF = 0;
const T_STARTED = 1;
const PANES = 2;
const PANE = 4;

function judge(
  v: Verdict,
  plan: ZScorePlan,
  x: number,
  m: number,
  sum: number,
  sumSq: number,
  ref: number,
) {
  if (m < plan.minSamples) return quiet(v, plan.threshold);
  const meanDev = sum / m;
  const variance = (sumSq - sum * meanDev) / (m - 1);
  const sd = variance > 0 ? Math.sqrt(variance) : 0;
  const mean = ref + meanDev;
  judgeStat(v, sd === 0 ? 0 : Math.abs(x - mean) / sd, plan.threshold, mean, sd);
}

export const zscore: DetectorKind<ZScorePlan> = {
  slots: (plan) => (plan.n > 0 ? RING + plan.n : PANES + PANE * ZSCORE_PANES),
  judge(plan, slots, o, r, _open, v) {
    if (plan.n > 0) countStep(plan, slots, o, r.value, v);
    else timeStep(plan, slots, o, r.ts, r.value, v);
  },
};

function countStep(plan: ZScorePlan, s: Float64Array, o: number, x: number, v: Verdict): void {
  const n = plan.n;
  const filled = s[o + FILLED] as number;
  if (filled === 0) s[o + REF] = x;
  judge(v, plan, x, filled, s[o + SUM] as number, s[o + SUM_SQ] as number, s[o + REF] as number);
  const head = s[o + HEAD] as number;
  const ref = s[o + REF] as number;
  if (filled === n) {
    const old = (s[o + RING + head] as number) - ref;
    s[o + SUM] = (s[o + SUM] as number) - old;
    s[o + SUM_SQ] = (s[o + SUM_SQ] as number) - old * old;
  } else {
    s[o + FILLED] = filled + 1;
  }
  s[o + RING + head] = x;
  s[o + HEAD] = head + 1 === n ? 0 : head + 1;
  const d = x - ref;
  s[o + SUM] = (s[o + SUM] as number) + d;
  s[o + SUM_SQ] = (s[o + SUM_SQ] as number) + d * d;
  // Running sums drift; every n readings they are recomputed around the current mean.
  s[o + SINCE_RECOMPUTE] = (s[o + SINCE_RECOMPUTE] as number) + 1;
  if ((s[o + SINCE_RECOMPUTE] as number) >= n) recompute(s, o, s[o + FILLED] as number);
}

function recompute(s: Float64Array, o: number, filled: number): void {
  let total = 0;
  for (let i = 0; i < filled; i++) total += s[o + RING + i] as number;
  const ref = total / filled;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < filled; i++) {
    const d = (s[o + RING + i] as number) - ref;
    sum += d;
    sumSq += d * d;
  }
  s[o + REF] = ref;
  s[o + SUM] = sum;
  s[o + SUM_SQ] = sumSq;
  s[o + SINCE_RECOMPUTE] = 0;
}

function timeStep(
  plan: ZScorePlan,
  s: Float64Array,
  o: number,
  ts: number,
  x: number,
  v: Verdict,
): void {
  if (s[o + T_STARTED] === 0) {
    s[o + T_REF] = x;
    s[o + T_STARTED] = 1;
  }
  const ref = s[o + T_REF] as number;
  const start = Math.floor(ts / plan.paneMs) * plan.paneMs;
  // The window: the reading's pane and the ZSCORE_PANES − 1 before it.
  const oldest = start - (ZSCORE_PANES - 1) * plan.paneMs;
  let m = 0;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < ZSCORE_PANES; i++) {
    const p = o + PANES + i * PANE;
    const t = s[p] as number;
    if (t < oldest || t > start || s[p + 1] === 0) continue;
    m += s[p + 1] as number;
    sum += s[p + 2] as number;
    sumSq += s[p + 3] as number;
  }
  judge(v, plan, x, m, sum, sumSq, ref);
  const p = o + PANES + (Math.floor(ts / plan.paneMs) % ZSCORE_PANES) * PANE;
  const t = s[p] as number;
  if (t > start && s[p + 1] !== 0) return; // its pane was reused by newer readings: too late to count
  if (t !== start) {
    s[p] = start;
    s[p + 1] = 0;
    s[p + 2] = 0;
    s[p + 3] = 0;
  }
  const d = x - ref;
  s[p + 1] = (s[p + 1] as number) + 1;
  s[p + 2] = (s[p + 2] as number) + d;
  s[p + 3] = (s[p + 3] as number) + d * d;
}
