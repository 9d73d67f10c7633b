/**
 * A naive reference for tests: keeps every reading and computes each window's aggregates
 * exactly from the raw values, straight from the definitions in docs/ENGINE.md. The
 * engine's final results must equal these.
 */
import type { WindowPlan } from "../../compile/plan.js";
import type { Aggregates, Reading } from "../types.js";

export interface RefWindow {
  key: string;
  start: number;
  end: number;
  partial: boolean;
  aggregates: Aggregates;
}

export function exactAggregates(
  readings: readonly Reading[],
  names: readonly string[],
): Aggregates {
  const values = readings.map((r) => r.value);
  const n = values.length;
  const sum = values.reduce((a, b) => a + b, 0);
  const mean = sum / n;
  const variance = n < 2 ? null : values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  const byTime = [...readings].sort((a, b) => a.ts - b.ts || a.value - b.value);
  const first = byTime[0] as Reading;
  const last = [...readings].sort((a, b) => b.ts - a.ts || b.value - a.value)[0] as Reading;
  const sorted = [...values].sort((a, b) => a - b);
  const out: Aggregates = {};
  for (const name of names) {
    if (name === "count") out.count = n;
    else if (name === "sum") out.sum = sum;
    else if (name === "mean") out.mean = mean;
    else if (name === "min") out.min = sorted[0] as number;
    else if (name === "max") out.max = sorted[n - 1] as number;
    else if (name === "variance") out.variance = variance;
    else if (name === "stddev") out.stddev = variance === null ? null : Math.sqrt(variance);
    else if (name === "first") out.first = first.value;
    else if (name === "last") out.last = last.value;
    else if (name === "rate")
      out.rate =
        last.ts === first.ts ? null : ((last.value - first.value) * 1000) / (last.ts - first.ts);
    else out[name] = sorted[Math.floor((Number(name.slice(1)) / 100) * (n - 1))] as number;
  }
  return out;
}

/**
 * Final windows of one key. Time windows and sessions depend only on the set of readings;
 * count windows on their arrival order (the order of `readings`), with the readings left
 * after the last full step emitted as a partial window, as an idle flush does.
 */
export function referenceWindows(
  key: string,
  plan: WindowPlan,
  readings: readonly Reading[],
  names: readonly string[],
): RefWindow[] {
  const out: RefWindow[] = [];
  const push = (start: number, end: number, rs: readonly Reading[], partial = false) => {
    if (rs.length > 0)
      out.push({ key, start, end, partial, aggregates: exactAggregates(rs, names) });
  };
  if (plan.type === "count") {
    let since = 0;
    readings.forEach((_, i) => {
      if (++since < plan.every) return;
      since = 0;
      const window = readings.slice(Math.max(0, i + 1 - plan.n), i + 1);
      push((window[0] as Reading).ts, (window[window.length - 1] as Reading).ts, window);
    });
    if (since > 0) {
      const window = readings.slice(Math.max(0, readings.length - plan.n));
      push((window[0] as Reading).ts, (window[window.length - 1] as Reading).ts, window, true);
    }
    return out;
  }
  const byTime = [...readings].sort((a, b) => a.ts - b.ts);
  if (plan.type === "session") {
    let current: Reading[] = [];
    for (const r of byTime) {
      if (current.length > 0 && r.ts - (current[current.length - 1] as Reading).ts >= plan.gapMs) {
        push((current[0] as Reading).ts, (current[current.length - 1] as Reading).ts, current);
        current = [];
      }
      current.push(r);
    }
    push(
      (current[0] as Reading)?.ts ?? 0,
      (current[current.length - 1] as Reading)?.ts ?? 0,
      current,
    );
    return out;
  }
  // Time windows: every window end on the hop grid (sliding: every pane end holding a reading).
  const ends = new Set<number>();
  for (const r of byTime) {
    const pane = Math.floor((r.ts - plan.offsetMs) / plan.paneMs);
    if (plan.type === "sliding") {
      ends.add(plan.offsetMs + (pane + 1) * plan.paneMs);
      continue;
    }
    for (
      let end =
        Math.floor((r.ts - plan.offsetMs) / plan.hopMs) * plan.hopMs + plan.hopMs + plan.offsetMs;
      end - plan.sizeMs <= r.ts;
      end += plan.hopMs
    ) {
      ends.add(end);
    }
  }
  for (const end of [...ends].sort((a, b) => a - b)) {
    push(
      end - plan.sizeMs,
      end,
      byTime.filter((r) => r.ts >= end - plan.sizeMs && r.ts < end),
    );
  }
  return out;
}
