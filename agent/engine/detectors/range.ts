/**
 * The range-break detector: a reading — or its short moving average — that breaks out of
 * the range of the previous ~n readings (or of their moving averages) by more than a
 * margin, a fraction of that range. Scale-free (no units, no variance to estimate), so one
 * setting fits sensors of any magnitude; the moving average catches level shifts too small
 * for one reading to show. It scores 63 on NAB (docs/DETECTION.md).
 *
 * Bounded memory: per scale, the max and min of RANGE_BLOCKS blocks of ⌈n/RANGE_BLOCKS⌉
 * readings plus the current block, so the range covers between n and n + one block of
 * readings; about 90 numbers per key whatever n is.
 */
import { RANGE_BLOCKS, type RangePlan } from "../../compile/plan.js";
import { type DetectorKind, judgeStat, quiet } from "./verdict.js";

const SMOOTH = 0;
const N = 1;
const IN_BLOCK = 2;
const BLOCKS = 3;
/** Per scale (raw, smoothed): the current block's max and min, then the ring of blocks' max and min. */
const SCALES = 4;
const SCALE = 2 + 2 * RANGE_BLOCKS;

export const range: DetectorKind<RangePlan> = {
  slots: () => SCALES + 2 * SCALE,
  judge(plan, s, o, r, _open, v) {
    const x = r.value;
    const n = s[o + N] as number;
    const sm =
      n === 0 ? x : (s[o + SMOOTH] as number) + plan.alpha * (x - (s[o + SMOOTH] as number));
    s[o + SMOOTH] = sm;
    if (n === 0)
      for (let k = 0; k < 2; k++) {
        s[o + SCALES + k * SCALE] = Number.NEGATIVE_INFINITY;
        s[o + SCALES + k * SCALE + 1] = Number.POSITIVE_INFINITY;
      }
    quiet(v, 1);
    const blocks = Math.min(s[o + BLOCKS] as number, RANGE_BLOCKS);
    for (let k = 0; k < 2; k++) {
      const u = k === 0 ? x : sm;
      const at = o + SCALES + k * SCALE;
      let hi = s[at] as number;
      let lo = s[at + 1] as number;
      if (n >= plan.minSamples) {
        for (let j = 0; j < blocks; j++) {
          const bHi = s[at + 2 + 2 * j] as number;
          const bLo = s[at + 3 + 2 * j] as number;
          if (bHi > hi) hi = bHi;
          if (bLo < lo) lo = bLo;
        }
        // A range of one value is taken as a hair wide (1e-9 of its magnitude), so a step
        // out of it scores high but finite.
        const width = Math.max(hi - lo, 1e-9 * Math.max(Math.abs(hi), Math.abs(lo), 1));
        const excess = Math.max(u - hi, lo - u, 0);
        // In margins: 1 when the break is exactly `margin` of the range.
        const stat = excess / width / (k === 0 ? plan.margin : plan.smoothMargin);
        if (k === 0 || stat > v.stat) judgeStat(v, stat, 1, (hi + lo) / 2, width / 2);
      }
      // The reading joins its block after it was judged.
      if (u > (s[at] as number)) s[at] = u;
      if (u < (s[at + 1] as number)) s[at + 1] = u;
    }
    s[o + N] = n + 1;
    const inBlock = (s[o + IN_BLOCK] as number) + 1;
    if (inBlock < plan.blockSize) {
      s[o + IN_BLOCK] = inBlock;
      return;
    }
    const slot = (s[o + BLOCKS] as number) % RANGE_BLOCKS;
    for (let k = 0; k < 2; k++) {
      const at = o + SCALES + k * SCALE;
      s[at + 2 + 2 * slot] = s[at] as number;
      s[at + 3 + 2 * slot] = s[at + 1] as number;
      s[at] = Number.NEGATIVE_INFINITY;
      s[at + 1] = Number.POSITIVE_INFINITY;
    }
    s[o + BLOCKS] = (s[o + BLOCKS] as number) + 1;
    s[o + IN_BLOCK] = 0;
  },
};
