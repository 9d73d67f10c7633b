/**
 * Readings/s through the engine alone (no decoding, no I/O), 10,000 keys, for the four
 * workloads of docs/BENCHMARKS.md, and the accounted state bytes per key of each.
 * Each task processes a batch of 100,000 readings (10 per key, 100 ms apart in event
 * time, i.e. 10 Hz sensors); tinybench reports the median batch time.
 */
import { Bench } from "tinybench";
import type { RuleSpec } from "../../rules/schema.js";
import { gaussian, mulberry32 } from "../../simulators/random.js";
import { compileRule } from "../compile/compile.js";
import { Engine } from "./engine.js";
import type { EngineOutput, Reading } from "./types.js";

const KEYS = 10_000;
const BATCH = 100_000;
const T0 = 1_700_000_000_000;

export const WORKLOADS: Record<string, RuleSpec> = {
  tumbling: {
    name: "tumbling",
    window: { type: "tumbling", size: "1m" },
    aggregates: ["count", "mean", "min", "max"],
  },
  countZ: {
    name: "countZ",
    window: { type: "count", n: 60, every: 60 },
    aggregates: ["mean", "stddev"],
    detectors: [{ type: "zscore", threshold: 3, minSamples: 10 }],
  },
  session: {
    name: "session",
    window: { type: "session", gap: "30s" },
    aggregates: ["count", "mean", "min", "max"],
  },
  slidingP95: { name: "slidingP95", window: { type: "sliding", size: "5m" }, aggregates: ["p95"] },
};

export interface EngineBenchResult {
  readingsPerSec: Record<string, number>;
  /** readings/s of each workload over the baseline's, measured in the same run */
  ratioToBaseline: Record<string, number>;
  stateBytesPerKey: Record<string, number>;
}

/**
 * The floor any keyed engine pays, measured beside the workloads: per reading, a Map lookup
 * by sensor id and a running count and sum.
 */
class Baseline {
  private readonly readings: Reading[] = [];
  private readonly keys = new Map<string, { n: number; sum: number }>();

  constructor() {
    for (let i = 0; i < BATCH; i++)
      this.readings.push({ sensor: `site-${i % 100}/sensor-${i % KEYS}`, ts: 0, value: i % 17 });
  }

  batch(): void {
    for (const r of this.readings) {
      let s = this.keys.get(r.sensor);
      if (s === undefined) {
        s = { n: 0, sum: 0 };
        this.keys.set(r.sensor, s);
      }
      s.n++;
      s.sum += r.value;
    }
  }
}

class Workload {
  readonly engine: Engine;
  private readonly readings: Reading[];
  private readonly offsets: Float64Array;
  private base = T0;
  private readonly out: EngineOutput[] = [];

  constructor(rule: RuleSpec, seed: number) {
    this.engine = new Engine({
      device: "bench",
      rules: [compileRule(rule)],
      maxStateBytes: 1024 * 1024 * 1024,
    });
    const rand = mulberry32(seed);
    this.readings = [];
    this.offsets = new Float64Array(BATCH);
    for (let i = 0; i < BATCH; i++) {
      this.offsets[i] = Math.floor(i / KEYS) * 100;
      const spike = rand() < 0.001 ? 10 : 0;
      this.readings.push({
        sensor: `site-${i % 100}/sensor-${i % KEYS}`,
        ts: 0,
        value: 20 + gaussian(rand) + spike,
      });
    }
  }

  /** One batch: 10 readings per key, continuing in event time from the last batch. */
  batch(): void {
    const { engine, readings, offsets, out } = this;
    const base = this.base;
    for (let i = 0; i < BATCH; i++) {
      const r = readings[i] as Reading;
      const ts = base + (offsets[i] as number);
      r.ts = ts;
      engine.process(r, ts, out);
      if (out.length > 1024) out.length = 0;
    }
    out.length = 0;
    this.base = base + (BATCH / KEYS) * 100;
  }
}

export async function runEngineBench(timeMs = 3_000): Promise<EngineBenchResult> {
  const workloads = Object.entries(WORKLOADS).map(
    ([name, rule], i) => [name, new Workload(rule, i + 1)] as const,
  );
  // Few iterations: a sliding-p95 batch takes most of a second.
  const bench = new Bench({ time: timeMs, iterations: 5, warmupTime: 500, warmupIterations: 2 });
  const baseline = new Baseline();
  bench.add("baseline", () => baseline.batch());
  for (const [name, w] of workloads) bench.add(name, () => w.batch());
  await bench.run();
  const result: EngineBenchResult = {
    readingsPerSec: {},
    ratioToBaseline: {},
    stateBytesPerKey: {},
  };
  for (const task of bench.tasks) {
    const r = task.result as { throughput?: { p50: number } };
    result.readingsPerSec[task.name] = Math.round((r.throughput?.p50 ?? 0) * BATCH);
  }
  const floor = result.readingsPerSec.baseline as number;
  for (const name of Object.keys(WORKLOADS)) {
    result.ratioToBaseline[name] =
      Math.round(((result.readingsPerSec[name] as number) / floor) * 100) / 100;
  }
  for (const name of Object.keys(WORKLOADS))
    result.stateBytesPerKey[name] = steadyStateBytesPerKey(name);
  return result;
}

/**
 * Accounted state per key once every window is full: 100 keys at 10 Hz for 6 minutes of
 * event time (longer than the longest window here, 5 minutes).
 */
export function steadyStateBytesPerKey(workload: string): number {
  const engine = new Engine({
    device: "bench",
    rules: [compileRule(WORKLOADS[workload] as RuleSpec)],
    maxStateBytes: 1024 ** 3,
  });
  const rand = mulberry32(99);
  const out: EngineOutput[] = [];
  for (let step = 0; step < 3_600; step++) {
    const ts = T0 + step * 100;
    for (let k = 0; k < 100; k++)
      engine.process(
        { sensor: `site-${k % 10}/sensor-${k}`, ts, value: 20 + gaussian(rand) },
        ts,
        out,
      );
    out.length = 0;
  }
  return Math.round(engine.stateBytes() / engine.keyCount());
}

/** For `npm run bench` (all *.bench.ts): readings/s per workload. */
export async function run(): Promise<Record<string, number>> {
  const r = await runEngineBench(2_000);
  return Object.fromEntries(
    Object.entries(r.readingsPerSec).map(([k, v]) => [`${k} (${r.stateBytesPerKey[k]} B/key)`, v]),
  );
}
