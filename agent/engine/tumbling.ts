/**
 * Event-time tumbling windows for one rule, keyed by sensor. Pure: readings and time come
 * in as arguments, results go out through the `out` array (CONVENTIONS.md 1).
 *
 * Windows are aligned to the epoch: a reading at `ts` belongs to
 * [floor(ts / size) * size, that + size). Per key the watermark is the highest event
 * time seen minus the allowed lateness; a window fires once the watermark reaches its
 * end. A reading for a window that has already fired goes to the late output.
 */
import type { CompiledRule } from "../../rules/load.js";
import { type AggState, addValue, emptyAgg, finishAgg } from "./aggregate.js";
import { lateId, resultId } from "./result-id.js";
import type { EngineOutput, Reading } from "./types.js";

/** One key's state in a snapshot: its highest event time and its open windows. */
export interface KeySnapshot {
  key: string;
  maxTs: number;
  /** [start, count, sum, min, max] per open window */
  open: [number, number, number, number, number][];
}

interface KeyState {
  maxTs: number;
  /** open windows by start time; at most allowedLateness/size + 1 of them */
  open: Map<number, AggState>;
}

export class TumblingWindows {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly device: string,
    private readonly rule: CompiledRule,
  ) {}

  add(reading: Reading, out: EngineOutput[]): void {
    const size = this.rule.windowMs;
    let key = this.keys.get(reading.sensor);
    if (key === undefined) {
      key = { maxTs: Number.NEGATIVE_INFINITY, open: new Map() };
      this.keys.set(reading.sensor, key);
    }
    const start = Math.floor(reading.ts / size) * size;
    const watermark = key.maxTs - this.rule.allowedLatenessMs;
    if (start + size <= watermark) {
      out.push({
        kind: "late",
        id: lateId(this.device, this.rule.name, reading.sensor, reading.ts, reading.value),
        revision: 0,
        device: this.device,
        rule: this.rule.name,
        key: reading.sensor,
        reading,
        watermark,
      });
      return;
    }
    let agg = key.open.get(start);
    if (agg === undefined) {
      agg = emptyAgg();
      key.open.set(start, agg);
    }
    addValue(agg, reading.value);
    if (reading.ts > key.maxTs) {
      key.maxTs = reading.ts;
      this.fireUpTo(reading.sensor, key, key.maxTs - this.rule.allowedLatenessMs, out);
    }
  }

  /** Emits every open window, marked partial (used at shutdown). */
  flushAll(out: EngineOutput[]): void {
    for (const [sensor, key] of this.keys) {
      for (const [start, agg] of [...key.open].sort((a, b) => a[0] - b[0])) {
        out.push(this.result(sensor, start, agg, true));
      }
      key.open.clear();
    }
  }

  /** The state needed to resume after a restart: every key's watermark and open windows. */
  snapshot(): KeySnapshot[] {
    const keys: KeySnapshot[] = [];
    for (const [key, state] of this.keys) {
      const open: KeySnapshot["open"] = [];
      for (const [start, a] of state.open) open.push([start, a.count, a.sum, a.min, a.max]);
      keys.push({ key, maxTs: state.maxTs, open });
    }
    return keys;
  }

  /** Resumes from a snapshot taken by `snapshot` (on an engine with no state yet). */
  restore(keys: readonly KeySnapshot[]): void {
    for (const k of keys) {
      const open = new Map<number, AggState>();
      for (const [start, count, sum, min, max] of k.open) open.set(start, { count, sum, min, max });
      this.keys.set(k.key, { maxTs: k.maxTs, open });
    }
  }

  /** Number of windows currently open, over all keys. */
  openWindows(): number {
    let n = 0;
    for (const key of this.keys.values()) n += key.open.size;
    return n;
  }

  private fireUpTo(sensor: string, key: KeyState, watermark: number, out: EngineOutput[]): void {
    if (key.open.size === 0) return;
    const due: number[] = [];
    for (const start of key.open.keys())
      if (start + this.rule.windowMs <= watermark) due.push(start);
    due.sort((a, b) => a - b);
    for (const start of due) {
      out.push(this.result(sensor, start, key.open.get(start) as AggState, false));
      key.open.delete(start);
    }
  }

  private result(sensor: string, start: number, agg: AggState, partial: boolean): EngineOutput {
    return {
      kind: "agg",
      id: resultId(this.device, this.rule.name, sensor, start),
      revision: 0,
      device: this.device,
      rule: this.rule.name,
      key: sensor,
      start,
      end: start + this.rule.windowMs,
      partial,
      aggregates: finishAgg(agg, this.rule.aggregates),
    };
  }
}
