/** Running aggregates for one window. Mergeable: two states combine into one. */
import type { AggregateKind } from "../../rules/schema.js";
import type { Aggregates } from "./types.js";

export interface AggState {
  count: number;
  sum: number;
  min: number;
  max: number;
}

export function emptyAgg(): AggState {
  return { count: 0, sum: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY };
}

export function addValue(state: AggState, value: number): void {
  state.count++;
  state.sum += value;
  if (value < state.min) state.min = value;
  if (value > state.max) state.max = value;
}

export function mergeAgg(into: AggState, other: AggState): void {
  into.count += other.count;
  into.sum += other.sum;
  if (other.min < into.min) into.min = other.min;
  if (other.max > into.max) into.max = other.max;
}

export function finishAgg(state: AggState, kinds: readonly AggregateKind[]): Aggregates {
  const out: Aggregates = {};
  for (const kind of kinds) {
    if (kind === "count") out.count = state.count;
    else if (kind === "mean") out.mean = state.sum / state.count;
    else if (kind === "min") out.min = state.min;
    else out.max = state.max;
  }
  return out;
}
