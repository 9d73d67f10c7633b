/**
 * One window type's logic for one rule, as pure functions over per-key state
 * (CONVENTIONS.md 1). The engine owns the keys; an operator only sees one key's state.
 */
import type { CompiledRule } from "../../rules/load.js";
import { type AggSpec, accFinish, aggSpec, type DDSketch } from "./accumulator.js";
import { lateId, resultId } from "./result-id.js";
import type { EngineOutput, Reading } from "./types.js";

export interface KeyState {
  /** accounted bytes of this key's window state (the store adds its own overhead) */
  bytes: number;
}

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

/** What every operator needs to emit results: the rule, its aggregates, an id cache. */
export class Emitter {
  readonly spec: AggSpec;
  private cachedIdKey = "";
  private cachedIdStart = Number.NaN;
  private cachedId = "";

  constructor(
    readonly device: string,
    readonly rule: CompiledRule,
  ) {
    this.spec = aggSpec(rule.aggregates);
  }

  /** Result ids are SHA-256 based; a window re-emitted many times (sliding) hashes once. */
  id(key: string, start: number): string {
    if (start !== this.cachedIdStart || key !== this.cachedIdKey) {
      this.cachedId = resultId(this.device, this.rule.name, key, start);
      this.cachedIdKey = key;
      this.cachedIdStart = start;
    }
    return this.cachedId;
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
  ): void {
    out.push({
      kind: "agg",
      id: this.id(key, idStart),
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
