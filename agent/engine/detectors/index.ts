/**
 * Detectors watch every reading of a key whatever its window. They wrap the rule's window
 * operator: each key's state is the window's state plus one Float64Array holding, per
 * detector, its alert lifecycle, the open alert's context and the detector's own slots —
 * so memory per key is constant (or bounded by a detector's window) and a checkpoint holds
 * it all. Every detector gives each reading a score in [0, 1] (0.5 at its threshold) and a
 * decision; the lifecycle (alert-lifecycle.ts) turns decisions into alerts that open, stay
 * open while re-fires are suppressed, and resolve.
 */
import type {
  CompositePlan,
  DetectorPlan,
  LifecycleFields,
  PartPlan,
  SilencePlan,
} from "../../compile/plan.js";
import {
  forget,
  isOpen,
  LIFECYCLE_SLOTS,
  type LifecycleAction,
  lastFiredAt,
  lifecycleStep,
  openedAt,
} from "../alert-lifecycle.js";
import {
  type Emitter,
  type KeyState,
  POOL_SIZE,
  POOLED_MAX_LENGTH,
  type WindowOperator,
} from "../operator.js";
import { alertId } from "../result-id.js";
import type { AlertResult, EngineOutput, Reading } from "../types.js";
import { ewma } from "./ewma.js";
import { flatline, rate, threshold } from "./levels.js";
import { mad } from "./mad.js";
import { range } from "./range.js";
import { type DetectorKind, newVerdict, quiet, type Verdict } from "./verdict.js";
import { zscore } from "./zscore.js";

const KINDS: { [K in PartPlan["type"]]: DetectorKind<Extract<PartPlan, { type: K }>> } = {
  zscore,
  ewma,
  mad,
  range,
  flatline,
  threshold,
  rate,
};

function kindOf(plan: PartPlan): DetectorKind<PartPlan> {
  return KINDS[plan.type] as DetectorKind<PartPlan>;
}

/** While an alert is open, its readings' scores are scaled below the threshold: they do not alert again. */
const SUPPRESSED = 0.49;

// The open alert's context, after the lifecycle slots: kept so its resolution repeats it.
const VALUE = 0;
const STAT = 1;
const THRESHOLD = 2;
const MEAN = 3;
const STDDEV = 4;
const SINCE = 5;
const SAMPLES = 6;
const SCORE = 7;
const PARTS = 8;
const CONTEXT_SLOTS = 9;
const HEADER = LIFECYCLE_SLOTS + CONTEXT_SLOTS;
// A silence detector's own slots: the last reading's value and event time.
const LAST_VALUE = 0;
const LAST_TS = 1;

/** Slots a detector's own state takes, after its header. */
function ownSlots(plan: DetectorPlan): number {
  if (plan.type === "silence") return 2;
  if (plan.type === "composite") return plan.parts.reduce((n, p) => n + kindOf(p).slots(p), 0);
  return kindOf(plan).slots(plan);
}

/** A composite's per-plan scratch: its parts' verdicts, their slot offsets, a reusable ranking. */
interface CompositeScratch {
  readonly verdicts: readonly Verdict[];
  /** each part's slots, from the composite's own */
  readonly offsets: readonly number[];
  /** the same verdicts, re-sorted in place on each reading */
  readonly ranked: Verdict[];
}

function compositeScratch(plan: CompositePlan): CompositeScratch {
  const verdicts = plan.parts.map(() => newVerdict());
  let at = 0;
  const offsets = plan.parts.map((p) => {
    const o = at;
    at += kindOf(p).slots(p);
    return o;
  });
  return { verdicts, offsets, ranked: [...verdicts] };
}

/** A composite's step: its parts judge the reading; the mode combines their verdicts. */
function judgeComposite(
  plan: CompositePlan,
  c: CompositeScratch,
  s: Float64Array,
  o: number,
  r: Reading,
  v: Verdict,
): void {
  let fired = 0;
  let mask = 0;
  plan.parts.forEach((p, j) => {
    const pv = c.verdicts[j] as Verdict;
    // Parts have no lifecycle: each judges as if no alert were open (no hysteresis).
    kindOf(p).judge(p, s, o + (c.offsets[j] as number), r, false, pv);
    const counts = plan.mode === "max" ? pv.score >= plan.threshold : pv.fired;
    if (counts) {
      fired++;
      mask |= 1 << j;
    }
  });
  // The verdict that decides: the k-th highest (1st for any and max, last for all), parts
  // that fired ranked first, ties in part order (the array is reused, so order it fully).
  c.ranked.sort(
    (a, b) =>
      Number(b.fired) - Number(a.fired) ||
      b.score - a.score ||
      c.verdicts.indexOf(a) - c.verdicts.indexOf(b),
  );
  const lead = c.ranked[plan.mode === "max" ? 0 : plan.k - 1] as Verdict;
  Object.assign(v, lead);
  v.fired = plan.mode === "max" ? fired > 0 : fired >= plan.k;
  v.threshold = plan.mode === "max" ? plan.threshold : lead.threshold;
  v.parts = mask;
}

export interface DetectingState extends KeyState {
  window: KeyState;
  /** each detector's slots, one after the other */
  slots: Float64Array;
}

/** The rule's window operator with its detectors run on every reading first. */
export class DetectingWindows implements WindowOperator<DetectingState> {
  private readonly offsets: number[] = [];
  private readonly size: number;
  private readonly pool: Float64Array[] = [];
  private readonly verdict = newVerdict();
  /** a composite's scratch, by detector index */
  private readonly composites: (CompositeScratch | undefined)[];
  private readonly silences: number[] = [];

  constructor(
    private readonly detectors: readonly DetectorPlan[],
    private readonly inner: WindowOperator<KeyState>,
    private readonly emit: Emitter,
  ) {
    let size = 0;
    detectors.forEach((d, i) => {
      this.offsets.push(size);
      size += HEADER + ownSlots(d);
      if (d.type === "silence") this.silences.push(i);
    });
    this.size = size;
    this.composites = detectors.map((d) =>
      d.type === "composite" ? compositeScratch(d) : undefined,
    );
  }

  private wrap(window: KeyState, slots: Float64Array): DetectingState {
    return { bytes: window.bytes + 8 * this.size + 48, window, slots };
  }

  create(): DetectingState {
    const slots = this.pool.pop()?.fill(0) ?? new Float64Array(this.size);
    return this.wrap(this.inner.create(), slots);
  }

  add(st: DetectingState, key: string, r: Reading, out: EngineOutput[]): void {
    const s = st.slots;
    for (let i = 0; i < this.detectors.length; i++) {
      const d = this.detectors[i] as DetectorPlan;
      const o = this.offsets[i] as number;
      if (d.type === "silence") {
        this.readingReturns(d, s, o, key, r, out);
        continue;
      }
      const v = this.verdict;
      const open = isOpen(s, o);
      if (d.type === "composite")
        judgeComposite(d, this.composites[i] as CompositeScratch, s, o + HEADER, r, v);
      else kindOf(d).judge(d, s, o + HEADER, r, open, v);
      const action = lifecycleStep(d, s, o, r.ts, v.fired);
      this.emit.onScore?.(
        this.emit.rule.name,
        key,
        d.type,
        r,
        open ? v.score * SUPPRESSED : v.score,
      );
      if (action === "open") remember(s, o, r, v);
      if (action === "open" || action === "resolve") this.alert(d, s, o, key, action, r.ts, out);
    }
    const before = st.window.bytes;
    this.inner.add(st.window, key, r, out);
    st.bytes += st.window.bytes - before;
  }

  /** A reading ends its key's silence, and is remembered as the last one heard. */
  private readingReturns(
    d: SilencePlan,
    s: Float64Array,
    o: number,
    key: string,
    r: Reading,
    out: EngineOutput[],
  ): void {
    // Quiet whatever its timestamp (a device's clock may lag the agent's): past any cooldown.
    if (lifecycleStep(d, s, o, Number.POSITIVE_INFINITY, false) === "resolve")
      this.alert(d, s, o, key, "resolve", r.ts, out);
    s[o + HEADER + LAST_VALUE] = r.value;
    s[o + HEADER + LAST_TS] = r.ts;
  }

  /**
   * The key has had no reading since `lastActive` (processing time): each silence detector
   * whose gap has passed opens its alert, stamped when the gap ran out.
   */
  idle(
    st: DetectingState,
    key: string,
    lastActive: number,
    now: number,
    out: EngineOutput[],
  ): void {
    const s = st.slots;
    for (const i of this.silences) {
      const d = this.detectors[i] as SilencePlan;
      const o = this.offsets[i] as number;
      if (isOpen(s, o) || now - lastActive < d.gapMs) continue;
      const at = lastActive + d.gapMs;
      lifecycleStep(d, s, o, at, true);
      const v = this.verdict;
      quiet(v, d.gapMs);
      v.fired = true;
      v.score = 1;
      v.stat = now - lastActive;
      v.since = s[o + HEADER + LAST_TS] as number;
      remember(s, o, { sensor: key, ts: at, value: s[o + HEADER + LAST_VALUE] as number }, v);
      this.alert(d, s, o, key, "open", at, out);
    }
  }

  /** The smallest silence gap among the detectors, or undefined without one. */
  silenceGapMs(): number | undefined {
    if (this.silences.length === 0) return undefined;
    return Math.min(...this.silences.map((i) => (this.detectors[i] as SilencePlan).gapMs));
  }

  private alert(
    d: DetectorPlan & LifecycleFields,
    s: Float64Array,
    o: number,
    key: string,
    action: LifecycleAction,
    at: number,
    out: EngineOutput[],
    reason?: "forgotten",
  ): void {
    const e = this.emit;
    const c = o + LIFECYCLE_SLOTS;
    const opened = openedAt(s, o);
    const value = s[c + VALUE] as number;
    const alert: AlertResult = {
      kind: "alert",
      id: alertId(e.device, e.rule.name, key, opened, value, d.type),
      revision: action === "open" ? 0 : 1,
      device: e.device,
      rule: e.rule.name,
      key,
      detector: d.type,
      severity: d.severity,
      state: action === "open" ? "open" : "resolved",
      ts: opened,
      value,
      score: s[c + STAT] as number,
      anomalyScore: s[c + SCORE] as number,
      threshold: s[c + THRESHOLD] as number,
    };
    for (const [slot, field] of [
      [MEAN, "mean"],
      [STDDEV, "stddev"],
      [SINCE, "since"],
      [SAMPLES, "samples"],
    ] as const) {
      const x = s[c + slot] as number;
      if (!Number.isNaN(x)) alert[field] = x;
    }
    if (d.type === "composite") {
      const mask = s[c + PARTS] as number;
      alert.parts = d.parts.filter((_, j) => (mask & (1 << j)) !== 0).map((p) => p.type);
    }
    if (action === "resolve") alert.resolvedAt = at;
    if (reason !== undefined) alert.reason = reason;
    out.push(alert);
  }

  /**
   * The key's state is being dropped (idle, evicted, or its rule changed): each open alert
   * resolves, as of the last reading that fired it, with `reason: "forgotten"`, so none is
   * left open for ever upstream.
   */
  flush(st: DetectingState, key: string, out: EngineOutput[], partial: boolean): void {
    const s = st.slots;
    this.detectors.forEach((d, i) => {
      const o = this.offsets[i] as number;
      if (!isOpen(s, o)) return;
      forget(s, o);
      this.alert(d, s, o, key, "resolve", lastFiredAt(s, o), out, "forgotten");
    });
    this.inner.flush(st.window, key, out, partial);
  }

  release(st: DetectingState): void {
    this.inner.release(st.window);
    if (this.pool.length < POOL_SIZE && this.size <= POOLED_MAX_LENGTH) this.pool.push(st.slots);
  }

  snapshot(st: DetectingState): unknown {
    return { window: this.inner.snapshot(st.window), slots: st.slots };
  }

  restore(data: unknown): DetectingState {
    const d = data as { window: unknown; slots: Float64Array };
    if (d.slots.length !== this.size) throw new Error("snapshot does not match the detectors");
    return this.wrap(this.inner.restore(d.window), Float64Array.from(d.slots));
  }

  openWindows(st: DetectingState): number {
    return this.inner.openWindows(st.window);
  }
}

/** Keeps the opening reading and its context in the header, for the alert and its resolution. */
function remember(s: Float64Array, o: number, r: Reading, v: Verdict): void {
  const c = o + LIFECYCLE_SLOTS;
  s[c + VALUE] = r.value;
  s[c + STAT] = v.stat;
  s[c + THRESHOLD] = v.threshold;
  s[c + MEAN] = v.mean;
  s[c + STDDEV] = v.stddev;
  s[c + SINCE] = v.since;
  s[c + SAMPLES] = v.samples;
  s[c + SCORE] = v.score;
  s[c + PARTS] = v.parts;
}
