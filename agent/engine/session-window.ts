/**
 * Session windows: a key's readings closer than `gap` to each other (in event time) form
 * one session; a reading may bridge two sessions into one. A session is emitted once,
 * when it is final: the watermark (maxTs − allowedLateness) has passed its last reading
 * + gap, so no reading within lateness can still join it — which is why a session's id
 * (its start) never changes after emission. `maxDuration` cuts a session that would grow
 * longer, in arrival order. start and end are the first and last reading's times.
 */
import type { WindowPlan } from "../compile/plan.js";
import { accAdd, accMerge, accReset, DDSketch, FIELDS } from "./accumulator.js";
import type { Emitter, KeyState, WindowOperator } from "./operator.js";
import type { EngineOutput, Reading } from "./types.js";

interface Session {
  start: number;
  end: number;
  acc: Float64Array;
  sketch: DDSketch | undefined;
  /** cut at maxDuration: takes no more readings after its end */
  closed: boolean;
}

export interface SessionState extends KeyState {
  maxTs: number;
  /** open sessions, by start; few at a time (bounded by lateness / gap) */
  sessions: Session[];
}

const STATE_OVERHEAD = 96;
const SESSION_BYTES = 64 + FIELDS * 8;

export class SessionWindows implements WindowOperator<SessionState> {
  private readonly gap: number;
  private readonly maxDuration: number;

  constructor(
    plan: Extract<WindowPlan, { type: "session" }>,
    private readonly lateness: number,
    private readonly emit: Emitter,
  ) {
    this.gap = plan.gapMs;
    this.maxDuration = plan.maxDurationMs ?? Number.POSITIVE_INFINITY;
  }

  create(): SessionState {
    return { bytes: STATE_OVERHEAD, maxTs: Number.NEGATIVE_INFINITY, sessions: [] };
  }

  add(st: SessionState, key: string, r: Reading, out: EngineOutput[]): void {
    const ts = r.ts;
    const gap = this.gap;
    const sessions = st.sessions;
    let joined: Session | undefined;
    for (let i = 0; i < sessions.length; i++) {
      const s = sessions[i] as Session;
      if (ts <= s.start - gap || ts >= s.end + gap || (s.closed && ts > s.end)) continue;
      if (joined === undefined) {
        joined = s;
        continue;
      }
      // The reading bridges two sessions: merge the later into the earlier.
      accMerge(joined.acc, 0, s.acc, 0);
      if (s.sketch !== undefined) joined.sketch?.merge(s.sketch);
      joined.start = Math.min(joined.start, s.start);
      joined.end = Math.max(joined.end, s.end);
      this.drop(st, i--);
    }
    if (joined !== undefined && ts > joined.end && ts - joined.start > this.maxDuration) {
      joined.closed = true;
      joined = undefined;
    }
    if (joined === undefined) {
      if (ts + gap <= st.maxTs - this.lateness) {
        this.emit.late(out, key, r, st.maxTs - this.lateness);
        return;
      }
      joined = this.open(st, ts);
    }
    joined.start = Math.min(joined.start, ts);
    joined.end = Math.max(joined.end, ts);
    accAdd(joined.acc, 0, ts, r.value);
    if (joined.sketch !== undefined) {
      const before = joined.sketch.bytes();
      joined.sketch.add(r.value);
      st.bytes += joined.sketch.bytes() - before;
    }
    if (ts > st.maxTs) {
      st.maxTs = ts;
      const wm = ts - this.lateness;
      for (let i = 0; i < sessions.length; i++) {
        const s = sessions[i] as Session;
        if (s.end + gap <= wm) {
          this.emitSession(key, s, out, false);
          this.drop(st, i--);
        }
      }
    }
  }

  private open(st: SessionState, ts: number): Session {
    const acc = new Float64Array(FIELDS);
    accReset(acc, 0);
    const sketch = this.emit.spec.needsSketch ? new DDSketch() : undefined;
    const s: Session = { start: ts, end: ts, acc, sketch, closed: false };
    let at = st.sessions.findIndex((o) => o.start > ts);
    if (at < 0) at = st.sessions.length;
    st.sessions.splice(at, 0, s);
    st.bytes += SESSION_BYTES + (sketch?.bytes() ?? 0);
    return s;
  }

  private drop(st: SessionState, i: number): void {
    const [s] = st.sessions.splice(i, 1);
    st.bytes -= SESSION_BYTES + (s?.sketch?.bytes() ?? 0);
  }

  private emitSession(key: string, s: Session, out: EngineOutput[], partial: boolean): void {
    this.emit.agg(out, key, s.start, s.start, s.end, 0, partial, s.acc, 0, s.sketch);
  }

  flush(st: SessionState, key: string, out: EngineOutput[], partial: boolean): void {
    for (const s of st.sessions) this.emitSession(key, s, out, partial);
    st.sessions.length = 0;
  }

  openWindows(st: SessionState): number {
    return st.sessions.length;
  }

  release(): void {
    // A session state is one small object; nothing worth pooling.
  }

  snapshot(st: SessionState): unknown {
    return {
      maxTs: st.maxTs,
      sessions: st.sessions.map((s) => ({ ...s, sketch: s.sketch?.toJSON() })),
    };
  }

  restore(data: unknown): SessionState {
    const d = data as {
      maxTs: number;
      sessions: (Omit<Session, "sketch"> & { sketch?: ReturnType<DDSketch["toJSON"]> })[];
    };
    const st = this.create();
    st.maxTs = d.maxTs;
    for (const s of d.sessions) {
      const sketch = s.sketch === undefined ? undefined : DDSketch.from(s.sketch);
      st.sessions.push({ ...s, acc: Float64Array.from(s.acc), sketch });
      st.bytes += SESSION_BYTES + (sketch?.bytes() ?? 0);
    }
    return st;
  }
}
