/**
 * Detectors on a reading's level and change, each a few numbers per key: a stuck sensor
 * (flatline), static levels with hysteresis (threshold), and the rate of change (rate).
 */
import type { FlatlinePlan, RatePlan, ThresholdPlan } from "../../compile/plan.js";
import { type DetectorKind, judgeStat, quiet } from "./verdict.js";

const F_N = 0;
const F_MIN = 1;
const F_MAX = 2;
const F_SINCE = 3;

/**
 * A stuck sensor: a run of readings whose values all lie within `epsilon` of each other,
 * lasting `durationMs` (event time) or `samples` readings, whichever comes first. Every
 * reading of a run past its limit fires (the lifecycle keeps it one alert); a value outside
 * the run's band starts a new run, and the alert resolves.
 */
export const flatline: DetectorKind<FlatlinePlan> = {
  slots: () => 4,
  judge(plan, s, o, r, _open, v) {
    const x = r.value;
    const n = s[o + F_N] as number;
    const lo = n === 0 ? x : Math.min(s[o + F_MIN] as number, x);
    const hi = n === 0 ? x : Math.max(s[o + F_MAX] as number, x);
    if (n === 0 || hi - lo > plan.epsilon) {
      s[o + F_N] = 1;
      s[o + F_MIN] = x;
      s[o + F_MAX] = x;
      s[o + F_SINCE] = r.ts;
      return quiet(v, plan.epsilon);
    }
    s[o + F_N] = n + 1;
    s[o + F_MIN] = lo;
    s[o + F_MAX] = hi;
    const since = s[o + F_SINCE] as number;
    // How far the run has got towards the limit: 1 on reaching it.
    const progress = Math.max((n + 1) / plan.samples, (r.ts - since) / plan.durationMs);
    judgeStat(v, progress, 1, (lo + hi) / 2, (hi - lo) / 2);
    v.fired = progress >= 1;
    v.threshold = plan.epsilon;
    v.since = since;
    v.samples = n + 1;
  },
};

const T_BEYOND = 0;
const T_SINCE = 1;

/**
 * Static levels: fires above `high` or below `low` once the level has been crossed for
 * `forMs` of event time; while its alert is open it keeps firing until the reading is back
 * within the clear levels (hysteresis), so a value hovering at the level does not flap.
 * Score: 0.5 at the level, rising towards 1 beyond it (by the width of the clear band, or 1 %
 * of the level), falling to 0 at the clear level.
 */
export const threshold: DetectorKind<ThresholdPlan> = {
  slots: () => 2,
  judge(plan, s, o, r, open, v) {
    const x = r.value;
    const beyond = open ? x > plan.highClear || x < plan.lowClear : x > plan.high || x < plan.low;
    const high = x >= (plan.high + plan.low) / 2 || plan.low === Number.NEGATIVE_INFINITY;
    const level = high ? plan.high : plan.low;
    const clear = high ? plan.highClear : plan.lowClear;
    const past = high ? x - level : level - x; // > 0 beyond the level
    const band = Math.abs(level - clear) || Math.max(Math.abs(level) * 0.01, 1e-9);
    const score =
      past >= 0
        ? 0.5 + (0.5 * past) / (past + band)
        : level === clear
          ? 0
          : Math.max(0, 0.5 * (1 + past / band));
    if (!beyond) s[o + T_BEYOND] = 0;
    else if (s[o + T_BEYOND] === 0) {
      s[o + T_BEYOND] = 1;
      s[o + T_SINCE] = r.ts;
    }
    judgeStat(v, x, level, Number.NaN, Number.NaN);
    v.score = score;
    v.fired = beyond && (open || r.ts - (s[o + T_SINCE] as number) >= plan.forMs);
  },
};

const R_N = 0;
const R_VALUE = 1;
const R_TS = 2;

/**
 * The change from the previous reading, per `perMs`. A reading stamped at or before the
 * previous one has no rate: it is judged quiet and does not replace the previous reading.
 */
export const rate: DetectorKind<RatePlan> = {
  slots: () => 3,
  judge(plan, s, o, r, _open, v) {
    const prevTs = s[o + R_TS] as number;
    if (s[o + R_N] === 0 || r.ts <= prevTs) {
      if (s[o + R_N] === 0) {
        s[o + R_N] = 1;
        s[o + R_VALUE] = r.value;
        s[o + R_TS] = r.ts;
      }
      return quiet(v, plan.limit);
    }
    const prev = s[o + R_VALUE] as number;
    const perUnit = ((r.value - prev) * plan.perMs) / (r.ts - prevTs);
    const signed =
      plan.direction === "both"
        ? Math.abs(perUnit)
        : Math.max(0, plan.direction === "rising" ? perUnit : -perUnit);
    judgeStat(v, signed, plan.limit, prev, Number.NaN);
    v.stat = perUnit;
    s[o + R_VALUE] = r.value;
    s[o + R_TS] = r.ts;
  },
};
