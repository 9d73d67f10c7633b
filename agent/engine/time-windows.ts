/**
 * Event-time windows built from panes: tumbling (one pane per window), hopping (panes of
 * gcd(size, hop)) and sliding (panes of `resolution`; a window ends at every pane end).
 * Per key, a fixed ring of C panes in typed arrays holds all state, so memory per key does
 * not depend on the input rate.
 *
 * Time: pane k covers [offset + k·P, offset + (k+1)·P). A window ends at a pane boundary
 * e (exclusive, in panes) and covers panes [e − s, e), s = size/P. Per key, maxTs is the
 * highest event time seen and the watermark wm = maxTs − allowedLateness.
 *  - tumbling/hopping windows fire (revision 0) once maxTs reaches their end;
 *  - sliding windows are emitted on every reading: the window ending at its pane's end;
 *  - a window is final once wm reaches its end. A reading for a window that fired but is
 *    not final updates it and re-emits it with revision + 1 (same id); a reading all of
 *    whose windows are final goes to the late output.
 */
import type { WindowPlan } from "../compile/plan.js";
import { accAdd, accCount, accMerge, accReset, DDSketch, FIELDS } from "./accumulator.js";
import {
  type Emitter,
  type IdCache,
  type KeyState,
  POOL_SIZE,
  type WindowOperator,
} from "./operator.js";
import type { EngineOutput, Reading } from "./types.js";

export interface TimeState extends KeyState {
  maxTs: number;
  /** pane number held by each ring slot (NaN: empty) */
  paneNo: Float64Array;
  acc: Float64Array;
  sketches: (DDSketch | undefined)[] | undefined;
  /** window number (end pane) held by each revision slot, and its last emitted revision */
  winNo: Float64Array;
  rev: Int32Array;
  idCache: IdCache;
  /**
   * Sliding windows with quantiles: the sketch of the latest window (panes winPm − s + 1 …
   * winPm), kept by adding each reading and subtracting panes as they leave, so an
   * in-order reading costs one sketch update instead of a merge of every pane.
   */
  winSketch: DDSketch | undefined;
  winPm: number;
}

type TimePlan = Extract<WindowPlan, { type: "tumbling" | "hopping" | "sliding" }>;

/** The state object, its array views and the cached id string. */
const STATE_OVERHEAD = 256;

export class TimeWindows implements WindowOperator<TimeState> {
  private readonly P: number;
  private readonly s: number;
  private readonly h: number;
  private readonly offset: number;
  private readonly lateness: number;
  private readonly C: number;
  private readonly W: number;
  private readonly sliding: boolean;
  private readonly scratch = new Float64Array(FIELDS);
  private readonly scratchSketch: DDSketch | undefined;
  private readonly baseBytes: number;
  private readonly pool: TimeState[] = [];

  constructor(
    plan: TimePlan,
    lateness: number,
    private readonly emit: Emitter,
  ) {
    this.P = plan.paneMs;
    this.s = plan.sizeMs / plan.paneMs;
    this.h = plan.hopMs / plan.paneMs;
    this.offset = plan.offsetMs;
    this.lateness = lateness;
    this.sliding = plan.type === "sliding";
    this.C = Math.ceil((plan.sizeMs + lateness) / plan.paneMs) + 2;
    this.W = Math.ceil((plan.sizeMs + lateness) / plan.hopMs) + 2;
    this.scratchSketch = emit.spec.needsSketch ? new DDSketch() : undefined;
    this.baseBytes =
      STATE_OVERHEAD +
      this.C * 8 * (FIELDS + 1) +
      this.W * 12 +
      (emit.spec.needsSketch ? this.C * 8 : 0);
  }

  create(): TimeState {
    const st = this.pool.pop();
    if (st !== undefined) {
      st.bytes = this.baseBytes;
      st.maxTs = Number.NEGATIVE_INFINITY;
      st.paneNo.fill(Number.NaN);
      st.winNo.fill(Number.NaN);
      st.rev.fill(-1);
      st.idCache.start = Number.NaN;
      st.winPm = Number.NaN;
      if (st.winSketch !== undefined) {
        st.winSketch.clear();
        st.bytes += st.winSketch.bytes();
      }
      for (const sk of st.sketches ?? []) {
        if (sk === undefined) continue;
        sk.clear();
        st.bytes += sk.bytes();
      }
      return st;
    }
    // One allocation per key: the typed arrays are views on a single buffer. Panes are
    // reset when first used (slotFor), so a fresh buffer needs only the markers.
    const C = this.C;
    const W = this.W;
    const buffer = new ArrayBuffer(8 * (C + C * FIELDS + W) + 4 * W);
    const winSketch = this.sliding && this.emit.spec.needsSketch ? new DDSketch() : undefined;
    return {
      bytes: this.baseBytes + (winSketch?.bytes() ?? 0),
      maxTs: Number.NEGATIVE_INFINITY,
      paneNo: new Float64Array(buffer, 0, C).fill(Number.NaN),
      acc: new Float64Array(buffer, 8 * C, C * FIELDS),
      sketches: this.emit.spec.needsSketch
        ? new Array<DDSketch | undefined>(C).fill(undefined)
        : undefined,
      winNo: new Float64Array(buffer, 8 * (C + C * FIELDS), W).fill(Number.NaN),
      rev: new Int32Array(buffer, 8 * (C + C * FIELDS + W), W).fill(-1),
      idCache: { start: Number.NaN, id: "" },
      winSketch,
      winPm: Number.NaN,
    };
  }

  release(st: TimeState): void {
    if (this.pool.length < POOL_SIZE) this.pool.push(st);
  }

  private paneOf(ts: number): number {
    return Math.floor((ts - this.offset) / this.P);
  }

  add(st: TimeState, key: string, r: Reading, out: EngineOutput[]): void {
    const k = this.paneOf(r.ts);
    const wmPane = this.paneOf(st.maxTs - this.lateness);
    // The last window holding pane k ends at e = ⌊(k + s)/h⌋·h; if even that one is final, it is late.
    if (Math.floor((k + this.s) / this.h) * this.h <= wmPane) {
      this.emit.late(out, key, r, st.maxTs - this.lateness);
      return;
    }
    if (r.ts > st.maxTs) {
      const newPm = this.paneOf(r.ts);
      if (st.winSketch !== undefined) this.slideWindowSketch(st, newPm);
      if (!this.sliding && st.maxTs !== Number.NEGATIVE_INFINITY)
        this.fire(st, key, this.paneOf(st.maxTs), newPm, out, false);
      st.maxTs = r.ts;
    }
    const slot = this.slotFor(st, k);
    accAdd(st.acc, slot * FIELDS, r.ts, r.value);
    if (st.sketches !== undefined) {
      let sk = st.sketches[slot];
      if (sk === undefined) {
        sk = new DDSketch();
        st.sketches[slot] = sk;
        st.bytes += sk.bytes();
      }
      const before = sk.bytes();
      sk.add(r.value);
      st.bytes += sk.bytes() - before;
      const ws = st.winSketch;
      if (ws !== undefined && k > st.winPm - this.s) {
        const wsBefore = ws.bytes();
        ws.add(r.value);
        st.bytes += ws.bytes() - wsBefore;
      }
    }
    const pm = this.paneOf(st.maxTs);
    if (this.sliding) {
      // Its own window, then every later window already emitted that holds this pane.
      this.emitWindow(st, key, k + 1, out, false, true);
      const last = Math.min(k + this.s, pm + 1);
      for (let e = k + 2; e <= last; e++) this.emitWindow(st, key, e, out, false, false);
    } else {
      // Fired windows holding pane k get a new revision; unfired ones include it when they fire.
      const first = (Math.floor(k / this.h) + 1) * this.h;
      const last = Math.min(k + this.s, pm);
      for (let e = first; e <= last; e += this.h) this.emitWindow(st, key, e, out, false, true);
    }
  }

  /** Moves the latest-window sketch to end at pane newPm, before the ring reuses any slot. */
  private slideWindowSketch(st: TimeState, newPm: number): void {
    const ws = st.winSketch as DDSketch;
    const before = ws.bytes();
    const old = st.winPm;
    if (Number.isNaN(old) || newPm - old >= this.s) {
      ws.clear();
    } else {
      for (let j = old - this.s + 1; j <= newPm - this.s; j++) {
        const slot = ((j % this.C) + this.C) % this.C;
        const paneSketch = st.sketches?.[slot];
        if (st.paneNo[slot] === j && paneSketch !== undefined) ws.subtract(paneSketch);
      }
    }
    st.winPm = newPm;
    st.bytes += ws.bytes() - before;
  }

  /** Fires tumbling/hopping windows ending in (fromPane, toPane] that hold data. */
  private fire(
    st: TimeState,
    key: string,
    fromPane: number,
    toPane: number,
    out: EngineOutput[],
    partial: boolean,
  ): void {
    // Data panes are ≤ fromPane, so no window ending after fromPane + s holds any.
    const hi = Math.min(toPane, fromPane + this.s);
    for (let e = (Math.floor(fromPane / this.h) + 1) * this.h; e <= hi; e += this.h) {
      this.emitWindow(st, key, e, out, partial, true);
    }
  }

  /**
   * Emits the window ending at pane boundary e if it holds data; `always` false re-emits
   * only a window emitted before.
   */
  private emitWindow(
    st: TimeState,
    key: string,
    e: number,
    out: EngineOutput[],
    partial: boolean,
    always: boolean,
  ): void {
    const revSlot = ((e % this.W) + this.W) % this.W;
    if (st.winNo[revSlot] !== e) {
      if (!always) return;
      st.winNo[revSlot] = e;
      st.rev[revSlot] = -1;
    } else if (!always && (st.rev[revSlot] as number) < 0) return;
    const acc = this.scratch;
    accReset(acc, 0);
    const latest = st.winSketch !== undefined && e === st.winPm + 1;
    const sketch = latest ? st.winSketch : this.scratchSketch;
    if (!latest) sketch?.clear();
    for (let k = e - this.s; k < e; k++) {
      const slot = ((k % this.C) + this.C) % this.C;
      if (st.paneNo[slot] !== k) continue;
      accMerge(acc, 0, st.acc, slot * FIELDS);
      const paneSketch = st.sketches?.[slot];
      if (!latest && sketch !== undefined && paneSketch !== undefined) sketch.merge(paneSketch);
    }
    if (accCount(acc, 0) === 0) return;
    const revision = (st.rev[revSlot] as number) + 1;
    st.rev[revSlot] = revision;
    const end = this.offset + e * this.P;
    const start = end - this.s * this.P;
    this.emit.agg(out, key, start, start, end, revision, partial, acc, 0, sketch, st.idCache);
  }

  /** The ring slot for pane k, cleared if it held an older pane (which is final by then). */
  private slotFor(st: TimeState, k: number): number {
    const slot = ((k % this.C) + this.C) % this.C;
    if (st.paneNo[slot] !== k) {
      st.paneNo[slot] = k;
      accReset(st.acc, slot * FIELDS);
      st.sketches?.[slot]?.clear();
    }
    return slot;
  }

  flush(st: TimeState, key: string, out: EngineOutput[], partial: boolean): void {
    if (this.sliding || st.maxTs === Number.NEGATIVE_INFINITY) return; // sliding windows are emitted as they go
    const pm = this.paneOf(st.maxTs);
    this.fire(st, key, pm, pm + this.s, out, partial);
  }

  openWindows(st: TimeState): number {
    if (this.sliding || st.maxTs === Number.NEGATIVE_INFINITY) return 0;
    const pm = this.paneOf(st.maxTs);
    let n = 0;
    for (let e = (Math.floor(pm / this.h) + 1) * this.h; e <= pm + this.s; e += this.h) {
      for (let k = e - this.s; k < e; k++) {
        if (st.paneNo[((k % this.C) + this.C) % this.C] === k) {
          n++;
          break;
        }
      }
    }
    return n;
  }

  snapshot(st: TimeState): unknown {
    return {
      maxTs: st.maxTs,
      paneNo: st.paneNo,
      acc: st.acc,
      sketches: st.sketches?.map((s) => s?.toJSON()),
      winNo: st.winNo,
      rev: st.rev,
      winSketch: st.winSketch?.toJSON(),
      winPm: st.winPm,
    };
  }

  restore(data: unknown): TimeState {
    const d = data as Omit<TimeState, "sketches" | "bytes" | "winSketch"> & {
      sketches?: (ReturnType<DDSketch["toJSON"]> | undefined)[];
      winSketch?: ReturnType<DDSketch["toJSON"]>;
    };
    const st = this.create();
    if (d.paneNo.length !== this.C || d.winNo.length !== this.W)
      throw new Error("snapshot does not match the window plan");
    st.maxTs = d.maxTs;
    st.paneNo.set(d.paneNo);
    st.acc.set(d.acc);
    st.winNo.set(d.winNo);
    st.rev.set(d.rev);
    if (st.sketches !== undefined && d.sketches !== undefined) {
      d.sketches.forEach((s, i) => {
        if (s === undefined || st.sketches === undefined) return;
        const sk = DDSketch.from(s);
        st.sketches[i] = sk;
        st.bytes += sk.bytes();
      });
    }
    if (st.winSketch !== undefined && d.winSketch !== undefined) {
      st.bytes -= st.winSketch.bytes();
      st.winSketch = DDSketch.from(d.winSketch);
      st.winPm = d.winPm;
      st.bytes += st.winSketch.bytes();
    }
    return st;
  }
}
