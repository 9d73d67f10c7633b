/**
 * The EWMA detector: each reading against an exponentially weighted mean and variance of
 * the readings before it (half-life in readings), optionally with a level-shift term — the
 * mean of the last few readings (a short half-life) against the long mean, in standard
 * errors — so a shift that no single reading shows still alerts. Constant memory.
 */
import type { EwmaPlan } from "../../compile/plan.js";
import { type DetectorKind, judgeStat } from "./verdict.js";

const MEAN = 0;
const VAR = 1;
const N = 2;
const SHORT = 3;

export const ewma: DetectorKind<EwmaPlan> = {
  slots: () => 4,
  judge(plan, slots, o, r, _open, v) {
    const x = r.value;
    const n = slots[o + N] as number;
    const mean = slots[o + MEAN] as number;
    const sd = Math.sqrt(slots[o + VAR] as number);
    const short =
      n === 0
        ? x
        : (slots[o + SHORT] as number) + plan.shortAlpha * (x - (slots[o + SHORT] as number));
    let z = 0;
    if (n >= plan.minSamples && sd > 0) {
      z = Math.abs(x - mean) / sd;
      if (plan.shortAlpha < 1) z = Math.max(z, (Math.abs(short - mean) / sd) * plan.shortScale);
    }
    judgeStat(v, z, plan.threshold, mean, sd);
    // The reading joins the statistics after it was judged against them. Until the EWMA's
    // weight falls to 1/(n + 1) it is a plain running mean, so its start is not biased.
    const alpha = Math.max(plan.alpha, 1 / (n + 1));
    const d = x - mean;
    slots[o + MEAN] = mean + alpha * d;
    slots[o + VAR] = (1 - alpha) * ((slots[o + VAR] as number) + alpha * d * d);
    slots[o + SHORT] = short;
    slots[o + N] = n + 1;
  },
};
