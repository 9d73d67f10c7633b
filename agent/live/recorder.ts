/**
 * What the live view shows (docs/LIVE.md), kept as the agent runs: per sensor its recent
 * values, its last window's mean and band, its anomalies; the alerts open and recent; once
 * a second the agent's figures (readings/s, outbox depth, the uplink's state) over the last
 * five minutes; the rules and their reloads. Bounded: at most MAX_SENSORS sensors are
 * tracked (the others are counted, `untracked`), and at most MAX_HISTORIES of them keep a
 * history of values, given to the most active when there are more.
 */
import type { AlertResult, EngineOutput, KeyRecord, Reading } from "../engine/types.js";

/** Values kept per sensor for its sparkline. */
export const POINTS = 120;
/** Sensors tracked at most (each a few hundred bytes). */
export const MAX_SENSORS = 20_000;
/** Sensors with a history of values at most (each 2 KiB): more than a page shows (60). */
export const MAX_HISTORIES = 250;
/** Anomalies remembered per sensor (for its markers). */
const MARKERS = 8;
/** Alerts listed as recent (opened or resolved). */
const RECENT_ALERTS = 100;
/** Seconds of the agent's figures kept (one sample a second). */
export const SERIES = 300;
/** Histories are given anew to the most active sensors every this many samples. */
const REBALANCE_SAMPLES = 10;
/** How fast a sensor's activity forgets (per one-second sample). */
const DECAY = 0.8;

export interface Band {
  start: number;
  end: number;
  mean: number;
  lo: number;
  hi: number;
  /** "3σ": mean ± 3 standard deviations; "range": the window's min and max */
  kind: "3σ" | "range";
}

interface SensorEntry {
  sensor: string;
  readings: number;
  /** readings at the last sample, and the decayed readings a second since */
  atSample: number;
  activity: number;
  last: number;
  lastTs: number;
  alerts: number;
  open: number;
  /** a ring of [ts, value] pairs; undefined when it holds no history */
  ring: Float64Array | undefined;
  written: number;
  band: Band | undefined;
  /** made at its first anomaly */
  markers: [number, number][] | undefined;
}

export interface SensorView {
  sensor: string;
  readings: number;
  perSec: number;
  last: number;
  lastTs: number;
  alerts: number;
  open: number;
  /** [ts, value], oldest first; null when no history is kept for it */
  points: [number, number][] | null;
  band: Band | null;
  markers: [number, number][];
}

export interface AlertView {
  id: string;
  rule: string;
  key: string;
  detector: string;
  severity: string;
  state: "open" | "resolved";
  ts: number;
  value: number;
  score: number;
  resolvedAt?: number;
}

export interface Sample {
  at: number;
  readingsPerSec: number;
  outboxDepth: number;
  uplink: string;
}

export interface RulesInfo {
  names: string[];
  loadedAt: number;
  reloads: { at: number; ok: boolean; problems: string[] }[];
}

export interface SensorQuery {
  /** a part of the sensor's name (case-insensitive) */
  q?: string;
  by: "activity" | "alerts" | "name";
  n: number;
}

export class LiveRecorder {
  private readonly sensors = new Map<string, SensorEntry>();
  private histories = 0;
  /** readings of sensors beyond MAX_SENSORS */
  untracked = 0;
  private readonly openAlertViews = new Map<string, AlertView>();
  private readonly recentAlerts: AlertView[] = [];
  private readonly series: Sample[] = [];
  private lastReadings: number | undefined;
  private samplesTaken = 0;
  rulesInfo: RulesInfo = { names: [], loadedAt: 0, reloads: [] };
  /** called with each alert as it opens or resolves, and the sensor's view */
  onAlert: ((alert: AlertView) => void) | undefined;

  /**
   * A reading the engine took (hot: a ring write). `key`: the engine's record of its key,
   * where the sensor's entry is kept, so that it is looked up only when the key is new to
   * the engine (entries are never removed from `sensors`).
   */
  reading(r: Reading, key?: KeyRecord): void {
    let e = key?.attached as SensorEntry | undefined;
    if (e === undefined) {
      e = this.sensors.get(r.sensor);
      if (e === undefined) {
        if (this.sensors.size >= MAX_SENSORS) {
          this.untracked++;
          return;
        }
        e = this.track(r.sensor);
      }
      if (key !== undefined) key.attached = e;
    }
    e.readings++;
    e.last = r.value;
    e.lastTs = r.ts;
    const ring = e.ring;
    if (ring !== undefined) {
      const at = (e.written % POINTS) * 2;
      ring[at] = r.ts;
      ring[at + 1] = r.value;
      e.written++;
    }
  }

  /** A result of the engine: a window's band, an alert. */
  output(out: EngineOutput): void {
    if (out.kind === "agg") this.window(out.key, out.start, out.end, out.aggregates);
    else if (out.kind === "alert") this.alert(out);
  }

  /** Once a second: the agent's figures, and each sensor's activity. */
  sample(at: number, readings: number, outboxDepth: number, uplink: string): void {
    const perSec = this.lastReadings === undefined ? 0 : readings - this.lastReadings;
    this.lastReadings = readings;
    this.series.push({ at, readingsPerSec: perSec, outboxDepth, uplink });
    if (this.series.length > SERIES) this.series.shift();
    for (const e of this.sensors.values()) {
      e.activity = e.activity * DECAY + (e.readings - e.atSample);
      e.atSample = e.readings;
    }
    if (this.sensors.size > MAX_HISTORIES && ++this.samplesTaken % REBALANCE_SAMPLES === 0)
      this.rebalance();
  }

  rulesLoaded(names: string[], at: number, outcome?: { ok: boolean; problems: string[] }): void {
    if (outcome === undefined || outcome.ok)
      this.rulesInfo = { ...this.rulesInfo, names, loadedAt: at };
    if (outcome !== undefined) {
      this.rulesInfo.reloads.unshift({ at, ...outcome });
      this.rulesInfo.reloads.length = Math.min(this.rulesInfo.reloads.length, 10);
    }
  }

  get sensorCount(): number {
    return this.sensors.size;
  }

  get openAlerts(): number {
    return this.openAlertViews.size;
  }

  get samples(): readonly Sample[] {
    return this.series;
  }

  alerts(): { open: AlertView[]; recent: AlertView[] } {
    return { open: [...this.openAlertViews.values()].reverse(), recent: this.recentAlerts };
  }

  /** Up to `n` sensors: matching `q`, the most active (or alerting, or by name) first. */
  query(query: SensorQuery): { total: number; matched: number; sensors: SensorView[] } {
    const q = query.q?.toLowerCase() ?? "";
    const matched: SensorEntry[] = [];
    for (const e of this.sensors.values())
      if (q === "" || e.sensor.toLowerCase().includes(q)) matched.push(e);
    const order =
      query.by === "name"
        ? (a: SensorEntry, b: SensorEntry) => (a.sensor < b.sensor ? -1 : 1)
        : query.by === "alerts"
          ? (a: SensorEntry, b: SensorEntry) =>
              b.open - a.open || b.alerts - a.alerts || b.activity - a.activity
          : (a: SensorEntry, b: SensorEntry) => b.activity - a.activity || b.alerts - a.alerts;
    matched.sort(order);
    return {
      total: this.sensors.size,
      matched: matched.length,
      sensors: matched.slice(0, Math.max(0, query.n)).map((e) => this.view(e)),
    };
  }

  /** One sensor's view, if it is tracked. */
  sensor(name: string): SensorView | undefined {
    const e = this.sensors.get(name);
    return e === undefined ? undefined : this.view(e);
  }

  private track(sensor: string): SensorEntry {
    const e: SensorEntry = {
      sensor,
      readings: 0,
      atSample: 0,
      activity: 0,
      last: Number.NaN,
      lastTs: 0,
      alerts: 0,
      open: 0,
      ring: undefined,
      written: 0,
      band: undefined,
      markers: undefined,
    };
    if (this.histories < MAX_HISTORIES) this.giveHistory(e);
    this.sensors.set(sensor, e);
    return e;
  }

  private giveHistory(e: SensorEntry): void {
    e.ring = new Float64Array(POINTS * 2);
    e.written = 0;
    this.histories++;
  }

  /** Histories go to the most active sensors and those with open alerts. */
  private rebalance(): void {
    const ranked = [...this.sensors.values()].sort(
      (a, b) => b.open - a.open || b.activity - a.activity,
    );
    const keep = new Set(ranked.slice(0, MAX_HISTORIES));
    for (const e of ranked)
      if (e.ring !== undefined && !keep.has(e)) {
        e.ring = undefined;
        this.histories--;
      }
    for (const e of keep) if (e.ring === undefined) this.giveHistory(e);
  }

  private window(key: string, start: number, end: number, a: Record<string, unknown>): void {
    const e = this.sensors.get(key);
    const mean = a.mean;
    if (e === undefined || typeof mean !== "number") return;
    const sd = a.stddev;
    if (typeof sd === "number")
      e.band = { start, end, mean, lo: mean - 3 * sd, hi: mean + 3 * sd, kind: "3σ" };
    else if (
      typeof a.min === "number" &&
      typeof a.max === "number" &&
      (e.band === undefined || e.band.kind === "range")
    )
      e.band = { start, end, mean, lo: a.min, hi: a.max, kind: "range" };
  }

  private alert(out: AlertResult): void {
    const view: AlertView = {
      id: out.id,
      rule: out.rule,
      key: out.key,
      detector: out.detector,
      severity: out.severity,
      state: out.state,
      ts: out.ts,
      value: out.value,
      score: out.score,
      ...(out.resolvedAt === undefined ? {} : { resolvedAt: out.resolvedAt }),
    };
    const e = this.sensors.get(out.key);
    if (out.state === "open") {
      this.openAlertViews.set(out.id, view);
      if (e !== undefined) {
        e.alerts++;
        e.open++;
        e.markers ??= [];
        e.markers.push([out.ts, out.value]);
        if (e.markers.length > MARKERS) e.markers.shift();
      }
    } else if (this.openAlertViews.delete(out.id) && e !== undefined)
      e.open = Math.max(0, e.open - 1);
    this.recentAlerts.unshift(view);
    if (this.recentAlerts.length > RECENT_ALERTS) this.recentAlerts.pop();
    this.onAlert?.(view);
  }

  private view(e: SensorEntry): SensorView {
    let points: [number, number][] | null = null;
    const ring = e.ring;
    if (ring !== undefined) {
      points = [];
      const n = Math.min(e.written, POINTS);
      for (let i = e.written - n; i < e.written; i++) {
        const at = (i % POINTS) * 2;
        points.push([ring[at] as number, ring[at + 1] as number]);
      }
    }
    return {
      sensor: e.sensor,
      readings: e.readings,
      perSec: Math.round(e.activity * (1 - DECAY) * 10) / 10,
      last: e.last,
      lastTs: e.lastTs,
      alerts: e.alerts,
      open: e.open,
      points,
      band: e.band ?? null,
      markers: e.markers ?? [],
    };
  }
}
