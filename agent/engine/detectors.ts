/**
 * Detectors that watch every reading of a key whatever its window (the z-score over a count
 * window lives in count-window.ts). They wrap the rule's window operator: each key's state
 * is the window's state plus a small Float64Array per detector, so memory per key stays
 * constant and a checkpoint holds both.
 */
import type { DetectorPlan, FlatlinePlan } from "../../rules/load.js";
import { EWMA_SLOTS, ewma } from "./ewma.js";
import type { DetectorStep, Emitter, KeyState, WindowOperator } from "./operator.js";
import { alertId } from "./result-id.js";
import type { EngineOutput, Reading } from "./types.js";

/** Flatline slots: readings in the run, its min and max, its first reading's time, alerted (0/1). */
const N = 0;
const MIN = 1;
const MAX = 2;
const SINCE = 3;
const ALERTED = 4;
const FLATLINE_SLOTS = 5;

export interface DetectingState extends KeyState {
  window: KeyState;
  /** each detector's slots, one after the other */
  slots: Float64Array;
}

/**
 * A stuck sensor: a run of readings whose values all lie within `epsilon` of each other,
 * lasting `durationMs` (event time) or `samples` readings, whichever comes first. One alert
 * per run; a value outside the run's band starts a new run.
 */
export const flatline: DetectorStep<FlatlinePlan> = (plan, emit, slots, o, key, r, out) => {
  const x = r.value;
  const n = slots[o + N] as number;
  const lo = n === 0 ? x : Math.min(slots[o + MIN] as number, x);
  const hi = n === 0 ? x : Math.max(slots[o + MAX] as number, x);
  if (n === 0 || hi - lo > plan.epsilon) {
    slots[o + N] = 1;
    slots[o + MIN] = x;
    slots[o + MAX] = x;
    slots[o + SINCE] = r.ts;
    slots[o + ALERTED] = 0;
    emit.onScore?.(emit.rule.name, key, "flatline", r, 0);
    return;
  }
  slots[o + N] = n + 1;
  slots[o + MIN] = lo;
  slots[o + MAX] = hi;
  const since = slots[o + SINCE] as number;
  if (emit.onScore !== undefined) {
    // How far the run has got towards the limit: 0.5 on reaching it.
    const progress = Math.max((n + 1) / plan.samples, (r.ts - since) / plan.durationMs);
    emit.onScore(emit.rule.name, key, "flatline", r, progress / (progress + 1));
  }
  if (slots[o + ALERTED] === 1 || (n + 1 < plan.samples && r.ts - since < plan.durationMs)) return;
  slots[o + ALERTED] = 1;
  out.push({
    kind: "alert",
    id: alertId(emit.device, emit.rule.name, key, r.ts, r.value, "flatline"),
    revision: 0,
    device: emit.device,
    rule: emit.rule.name,
    key,
    detector: "flatline",
    ts: r.ts,
    value: x,
    score: 1,
    threshold: plan.epsilon,
    mean: (lo + hi) / 2,
    stddev: (hi - lo) / 2,
    since,
    samples: n + 1,
  });
};

const SLOTS: Record<DetectorPlan["type"], number> = {
  flatline: FLATLINE_SLOTS,
  ewma: EWMA_SLOTS,
};

/** The rule's window operator with its detectors run on every reading first. */
export class DetectingWindows implements WindowOperator<DetectingState> {
  private readonly offsets: number[] = [];
  private readonly size: number;

  constructor(
    private readonly detectors: readonly DetectorPlan[],
    private readonly inner: WindowOperator<KeyState>,
    private readonly emit: Emitter,
  ) {
    let size = 0;
    for (const d of detectors) {
      this.offsets.push(size);
      size += SLOTS[d.type];
    }
    this.size = size;
  }

  private wrap(window: KeyState, slots: Float64Array): DetectingState {
    return { bytes: window.bytes + 8 * this.size + 48, window, slots };
  }

  create(): DetectingState {
    return this.wrap(this.inner.create(), new Float64Array(this.size));
  }

  add(st: DetectingState, key: string, r: Reading, out: EngineOutput[]): void {
    for (let i = 0; i < this.detectors.length; i++) {
      const d = this.detectors[i] as DetectorPlan;
      const o = this.offsets[i] as number;
      if (d.type === "flatline") flatline(d, this.emit, st.slots, o, key, r, out);
      else ewma(d, this.emit, st.slots, o, key, r, out);
    }
    const before = st.window.bytes;
    this.inner.add(st.window, key, r, out);
    st.bytes += st.window.bytes - before;
  }

  flush(st: DetectingState, key: string, out: EngineOutput[], partial: boolean): void {
    this.inner.flush(st.window, key, out, partial);
  }

  release(st: DetectingState): void {
    this.inner.release(st.window);
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
