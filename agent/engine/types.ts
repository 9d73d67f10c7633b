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
 * A detector's alert (docs/RULES.md "Alerts"). It opens (revision 0) on the reading that
 * fired — `ts` and `value` are that reading's, except for silence, whose `ts` is when the
 * gap ran out — and resolves later as revision 1 of the same id, repeating the opening's
 * context with `state: "resolved"` and `resolvedAt`.
 */
export interface AlertResult {
  kind: "alert";
  id: string;
  revision: number;
  device: string;
  rule: string;
  key: string;
  detector:
    | "zscore"
    | "flatline"
    | "ewma"
    | "mad"
    | "range"
    | "threshold"
    | "rate"
    | "silence"
    | "composite";
  severity: "info" | "warning" | "critical";
  state: "open" | "resolved";
  ts: number;
  value: number;
  /** the detector's statistic (z-score, robust z, rate, level, …), compared with `threshold` */
  score: number;
  /** the anomaly score in [0, 1], 0.5 at the threshold */
  anomalyScore: number;
  threshold: number;
  /** the context: the window's mean and standard deviation (median and MAD·1.4826 for mad; the range's middle and half its width for range) */
  mean?: number;
  stddev?: number;
  /** flatline: the stuck run's first reading's time and length; silence: the last reading's time */
  since?: number;
  samples?: number;
  /** composite: the parts that fired */
  parts?: string[];
  resolvedAt?: number;
  /** "forgotten": resolved because its key's state was dropped (idle, evicted, rule changed), as of its last fire */
  reason?: "forgotten";
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

/** The engine's record of a key (a sensor), kept while any rule holds the key. */
export interface KeyRecord {
  /**
   * The engine's user's own data for the key, kept as long as the record (the live view's
   * entry for the sensor, so that it needs no lookup of its own); the engine never reads it.
   */
  attached: unknown;
}
