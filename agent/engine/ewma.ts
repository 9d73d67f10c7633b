/**
 * The EWMA detector: each reading against an exponentially weighted mean and variance of
 * the readings before it (half-life in readings), optionally with a level-shift term — the
 * mean of the last few readings (a short half-life) against the long mean, in standard
 * errors — so a shift that no single reading shows still alerts. Its score is z/(z + k),
 * 0.5 at the threshold k; alerts follow the lifecycle in alert-lifecycle.ts. Constant
 * memory: a few numbers per key.
 */
import type { EwmaPlan } from "../../rules/load.js";
import { LIFECYCLE_SLOTS, lifecycleStep, openedAt } from "./alert-lifecycle.js";
import type { DetectorStep } from "./operator.js";
import { alertId } from "./result-id.js";

const MEAN = 0;
const VAR = 1;
const N = 2;
const SHORT = 3;
const OPEN_VALUE = 4;
const LIFECYCLE = 5;
export const EWMA_SLOTS = LIFECYCLE + LIFECYCLE_SLOTS;
/** A suppressed reading's score is scaled below the threshold: it does not alert again. */
const SUPPRESSED = 0.49;

export const ewma: DetectorStep<EwmaPlan> = (plan, emit, slots, o, key, r, out) => {
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
  const wasOpen = slots[o + LIFECYCLE] === 1;
  const action = lifecycleStep(plan, slots, o + LIFECYCLE, r.ts, z > plan.threshold);
  if (emit.onScore !== undefined) {
    const score = z / (z + plan.threshold);
    emit.onScore(emit.rule.name, key, "ewma", r, wasOpen ? score * SUPPRESSED : score);
  }
  if (action === "open" || action === "resolve") {
    const opened = openedAt(slots, o + LIFECYCLE);
    if (action === "open") slots[o + OPEN_VALUE] = x;
    const openValue = slots[o + OPEN_VALUE] as number;
    out.push({
      kind: "alert",
      id: alertId(emit.device, emit.rule.name, key, opened, openValue, "ewma"),
      revision: action === "open" ? 0 : 1,
      device: emit.device,
      rule: emit.rule.name,
      key,
      detector: "ewma",
      ts: opened,
      value: openValue,
      score: z,
      threshold: plan.threshold,
      mean,
      stddev: sd,
      state: action === "open" ? "open" : "resolved",
      ...(action === "resolve" ? { resolvedAt: r.ts } : {}),
    });
  }
  // The reading joins the statistics after it was judged against them. Until the EWMA's
  // weight falls to 1/(n + 1) it is a plain running mean, so its start is not biased.
  const alpha = Math.max(plan.alpha, 1 / (n + 1));
  const d = x - mean;
  slots[o + MEAN] = mean + alpha * d;
  slots[o + VAR] = (1 - alpha) * ((slots[o + VAR] as number) + alpha * d * d);
  slots[o + SHORT] = short;
  slots[o + N] = n + 1;
};
