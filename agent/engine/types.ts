/** The engine's contracts (ARCHITECTURE.md "Contracts"). */

export interface Reading {
  sensor: string;
  /** event time, ms since the epoch */
  ts: number;
  value: number;
  tags?: Record<string, string>;
}

export interface Aggregates {
  count?: number;
  mean?: number;
  min?: number;
  max?: number;
}

export interface AggregateResult {
  kind: "agg";
  id: string;
  revision: number;
  device: string;
  rule: string;
  key: string;
  start: number;
  end: number;
  /** true when the window was emitted before it was complete (shutdown, eviction) */
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

export type EngineOutput = AggregateResult | LateReading;
