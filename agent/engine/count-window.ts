/**
 * Count windows: the last `n` readings of a key in arrival order, emitted every `every`
 * readings (the moving average over samples). Values and times sit in typed-array rings.
 *
 * A count window's id uses its position instead of a time: the ordinal of its last
 * (newest) reading within the key, which is unique per emission.
 */
import type { WindowPlan } from "../compile/plan.js";
import { accAdd, accReset, DDSketch, FIELDS } from "./accumulator.js";
import {
  type Emitter,
  type KeyState,
  POOL_SIZE,
  POOLED_MAX_LENGTH,
  type WindowOperator,
} from "./operator.js";
import type { EngineOutput, Reading } from "./types.js";

export interface CountState extends KeyState {
  values: Float64Array;
  times: Float64Array;
  /** next write position */
  head: number;
  filled: number;
  /** readings seen by this key */
  seq: number;
  /** readings since the last emission */
  since: number;
  ref: number;
  sum: number;
  sumSq: number;
  sinceRecompute: number;
}

const STATE_OVERHEAD = 128;

export class CountWindows implements WindowOperator<CountState> {
  private readonly n: number;
  private readonly every: number;
  private readonly scratch = new Float64Array(FIELDS);
  private readonly scratchSketch: DDSketch | undefined;
  private readonly pool: CountState[] = [];

  constructor(
    plan: Extract<WindowPlan, { type: "count" }>,
    private readonly emit: Emitter,
  ) {
    this.n = plan.n;
    this.every = plan.every;
    this.scratchSketch = emit.spec.needsSketch ? new DDSketch() : undefined;
  }

  create(): CountState {
    const st = this.pool.pop();
    if (st !== undefined) {
      st.values.fill(0);
      st.times.fill(0);
      st.head = st.filled = st.seq = st.since = st.ref = st.sum = st.sumSq = st.sinceRecompute = 0;
      st.bytes = STATE_OVERHEAD + this.n * 16;
      return st;
    }
    return {
      bytes: STATE_OVERHEAD + this.n * 16,
      values: new Float64Array(this.n),
      times: new Float64Array(this.n),
      head: 0,
      filled: 0,
      seq: 0,
      since: 0,
      ref: 0,
      sum: 0,
      sumSq: 0,
      sinceRecompute: 0,
    };
  }

  add(st: CountState, key: string, r: Reading, out: EngineOutput[]): void {
    const x = r.value;
    const n = this.n;
    if (st.filled === n) {
      const old = (st.values[st.head] as number) - st.ref;
      st.sum -= old;
      st.sumSq -= old * old;
    } else {
      st.filled++;
    }
    st.values[st.head] = x;
    st.times[st.head] = r.ts;
    st.head = st.head + 1 === n ? 0 : st.head + 1;
    const d = x - st.ref;
    st.sum += d;
    st.sumSq += d * d;
    if (++st.sinceRecompute >= n) this.recompute(st);
    st.seq++;
    if (++st.since >= this.every) this.emitWindow(st, key, out, false);
  }

  private recompute(st: CountState): void {
    let total = 0;
    for (let i = 0; i < st.filled; i++) total += st.values[i] as number;
    st.ref = total / st.filled;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < st.filled; i++) {
      const d = (st.values[i] as number) - st.ref;
      sum += d;
      sumSq += d * d;
    }
    st.sum = sum;
    st.sumSq = sumSq;
    st.sinceRecompute = 0;
  }

  private emitWindow(st: CountState, key: string, out: EngineOutput[], partial: boolean): void {
    st.since = 0;
    if (this.emit.spec.names.length === 0) return; // a rule that only runs detectors
    const acc = this.scratch;
    accReset(acc, 0);
    const sketch = this.scratchSketch;
    sketch?.clear();
    const n = this.n;
    // Oldest first: the ring starts at head once full.
    const from = st.filled === n ? st.head : 0;
    for (let i = 0; i < st.filled; i++) {
      const at = from + i < n ? from + i : from + i - n;
      accAdd(acc, 0, st.times[at] as number, st.values[at] as number);
      sketch?.add(st.values[at] as number);
    }
    const oldest = st.times[from] as number;
    const newest = st.times[(st.head + n - 1) % n] as number;
    this.emit.agg(out, key, st.seq - 1, oldest, newest, 0, partial, acc, 0, sketch);
  }

  flush(st: CountState, key: string, out: EngineOutput[]): void {
    // Readings not yet covered by an emission go out as a partial window.
    if (st.since > 0) this.emitWindow(st, key, out, true);
  }

  openWindows(st: CountState): number {
    return st.since > 0 ? 1 : 0;
  }

  release(st: CountState): void {
    if (this.pool.length < POOL_SIZE && this.n <= POOLED_MAX_LENGTH) this.pool.push(st);
  }

  snapshot(st: CountState): unknown {
    const { bytes: _bytes, ...rest } = st;
    return rest;
  }

  restore(data: unknown): CountState {
    const d = data as CountState;
    if (d.values.length !== this.n) throw new Error("snapshot does not match the window plan");
    return { ...this.create(), ...d, bytes: STATE_OVERHEAD + this.n * 16 };
  }
}
