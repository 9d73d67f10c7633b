/**
 * One window type's logic for one rule, as pure functions over per-key state
 * (CONVENTIONS.md 1). The engine owns the keys; an operator only sees one key's state.
 */
import type { CompiledRule } from "../compile/plan.js";
import { type AggSpec, accFinish, aggSpec, type DDSketch } from "./accumulator.js";
import { lateId, resultId } from "./result-id.js";
import type { EngineOutput, Reading, ScoreSink } from "./types.js";

export interface KeyState {
  /** accounted bytes of this key's window state (the store adds its own overhead) */
  bytes: number;
}

/** The last window id computed for a key. */
export interface IdCache {
  start: number;
  id: string;
}

/**
 * Released states an operator keeps for its next new key (not accounted: they belong to no
 * key): keys evicted and made again, under a budget smaller than the fleet, churn them.
 */
export const POOL_SIZE = 64;
/** Only states whose arrays hold at most this many numbers (8 KiB each) are kept. */
export const POOLED_MAX_LENGTH = 1_024;

export interface WindowOperator<S extends KeyState> {
  create(): S;
  /** Adds a reading (processing it as late if it is); may emit results. */
  add(state: S, key: string, reading: Reading, out: EngineOutput[]): void;
  /**
   * Emits what is still open, because the key went idle (complete: `partial` false) or is
   * being evicted (`partial` true). The state is discarded afterwards.
   */
  flush(state: S, key: string, out: EngineOutput[], partial: boolean): void;
  /** Takes back the state of a flushed key for reuse, so churning keys do not churn the GC. */
  release(state: S): void;
  snapshot(state: S): unknown;
  restore(data: unknown): S;
  /** Open windows (for metrics). */
  openWindows(state: S): number;
}

/** One detector's work on one reading of a key: its state is `slots[o…]`; alerts go to `out`. */
export type DetectorStep<P> = (
  plan: P,
  emit: Emitter,
  slots: Float64Array,
  o: number,
  key: string,
  r: Reading,
  out: EngineOutput[],
) => void;

/** What every operator needs to emit results: the rule, its aggregates, an id cache. */
export class Emitter {
  readonly spec: AggSpec;

  constructor(
    readonly device: string,
    readonly rule: CompiledRule,
    readonly onScore?: ScoreSink,
  ) {
    this.spec = aggSpec(rule.aggregates);
  }

  /**
   * Result ids are SHA-256 based; a window re-emitted many times (sliding windows, late
   * revisions) hashes once: `cache` is a per-key slot remembering the last window's id.
   */
  id(key: string, start: number, cache?: IdCache): string {
    if (cache === undefined) return resultId(this.device, this.rule.name, key, start);
    if (cache.start !== start) {
      cache.start = start;
      cache.id = resultId(this.device, this.rule.name, key, start);
    }
    return cache.id;
  }

  agg(
    out: EngineOutput[],
    key: string,
    idStart: number,
    start: number,
    end: number,
    revision: number,
    partial: boolean,
    acc: Float64Array,
    o: number,
    sketch: DDSketch | undefined,
    cache?: IdCache,
  ): void {
    if (this.spec.names.length === 0) return; // a rule that only runs detectors
    out.push({
      kind: "agg",
      id: this.id(key, idStart, cache),
      revision,
      device: this.device,
      rule: this.rule.name,
      key,
      start,
      end,
      partial,
      aggregates: accFinish(acc, o, this.spec, sketch),
    });
  }

  late(out: EngineOutput[], key: string, reading: Reading, watermark: number): void {
    if (this.spec.names.length === 0) return;
    out.push({
      kind: "late",
      id: lateId(this.device, this.rule.name, key, reading.ts, reading.value),
      revision: 0,
      device: this.device,
      rule: this.rule.name,
      key,
      reading,
      watermark,
    });
  }
}
