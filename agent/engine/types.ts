/** The engine's contracts (ARCHITECTURE.md "Contracts"). */
import type { Aggregates } from "./accumulator.js";

export type { Aggregates };

export interface Reading {
  sensor: string;
  /** event time, ms since the epoch */
  ts: number;
  value: number;
  tags?: Record<string, string>;
}

export interface AggregateResult {
  kind: "agg";
  id: string;
  revision: number;
  device: string;
  rule: string;
  key: string;
  /** window start (inclusive); for count windows the first reading's time, for sessions too */
  start: number;
  /** window end (exclusive); for count windows and sessions the last reading's time */
  end: number;
  /** true when emitted before the window was complete (its key was evicted, or its rule changed) */
  partial: boolean;
  aggregates: Aggregates;
}

export interface LateReading {
  kind: "late";
  /** deterministic per reading (see result-id.ts), so the sink stores each late reading once */
  id: string;
  revision: 0;
  device: string;
  rule: string;
  key: string;
  reading: Reading;
  /** the watermark the reading arrived behind */
  watermark: number;
}

/**
 * A detector fired on a reading. zscore: `score` is |value − mean| / stddev of the count
 * window before the reading. flatline: `score` is 1, `threshold` is epsilon, `mean` the
 * middle of the stuck run's values and `stddev` half their spread; `since` is the run's
 * first reading's time and `samples` its length.
 */
export interface AlertResult {
  kind: "alert";
  id: string;
  /** 0; an ewma alert's resolution is revision 1 of the same id */
  revision: number;
  device: string;
  rule: string;
  key: string;
  detector: "zscore" | "flatline" | "ewma";
  ts: number;
  value: number;
  score: number;
  threshold: number;
  mean: number;
  stddev: number;
  since?: number;
  samples?: number;
  /** ewma: an alert opens (revision 0) and later resolves (the same id, revision 1) */
  state?: "open" | "resolved";
  resolvedAt?: number;
}

/** A reading the engine refused, with the reason; counted, never silently dropped. */
export interface EngineDeadLetter {
  kind: "dead";
  reason: "future";
  reading: Reading;
  /** processing time at arrival */
  now: number;
}

/**
 * Every detector's anomaly score for every reading it sees, in [0, 1], 0.5 at its
 * threshold (benchmarks and NAB runs read these; the agent does not subscribe).
 */
export type ScoreSink = (
  rule: string,
  key: string,
  detector: string,
  reading: Reading,
  score: number,
) => void;

export type EngineOutput = AggregateResult | LateReading | AlertResult | EngineDeadLetter;
