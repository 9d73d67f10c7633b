/**
 * The message stream of a simulation: readings from a source (a simulated fleet or a
 * replayed file), faults applied, payloads encoded, in the order they are sent. Pure and
 * lazy: the same plan and seed give the same messages byte for byte, one at a time, and
 * every injected anomaly and fault is reported to `truth` as it is decided.
 */
import { childSeed } from "./models.js";
import { type Channel, encode, MALFORMED_VARIANTS, malformed } from "./payloads.js";
import { mulberry32 } from "./random.js";
import type { DelayPlan, FaultPlan } from "./scenario.js";
import type { AnomalyType, PayloadFormat } from "./scenario-schema.js";

export interface SimMessage {
  /** when to send it, in ms of event time after the stream's start */
  readonly at: number;
  readonly topic: string;
  readonly payload: string;
}

/**
 * A reading before faults: its channel, its true time and value, when it is due to be sent
 * (ms after the start, never less than the reading before's), and `silent` when an anomaly
 * withholds it.
 */
export interface SourceReading {
  channel: number;
  device: number;
  ts: number;
  sendAt: number;
  value: number;
  silent: boolean;
}

/** One reading object a source fills in and hands out again and again: no allocation per reading. */
export function blankReading(): SourceReading {
  return { channel: 0, device: 0, ts: 0, sendAt: 0, value: 0, silent: false };
}

export interface ReadingSource {
  readonly channels: readonly Channel[];
  next(): SourceReading | undefined;
}

interface Located {
  device: string;
  sensor: string;
  key: string;
  topic: string;
}

/**
 * One line of the ground-truth file: first each sensor of the stream, then the anomalies
 * and faults as they are injected. Times are as the device stamps them (its clock skew
 * included).
 */
export type TruthRecord =
  | ({ kind: "sensor" } & Located)
  | ({
      kind: "anomaly";
      type: AnomalyType;
      start: number;
      end: number;
      magnitude: number;
      occurrence: number;
    } & Located)
  | {
      kind: "fault";
      type: "offline";
      device: string;
      start: number;
      end: number;
      buffered: boolean;
    }
  | { kind: "fault"; type: "clock-skew"; device: string; skew: number }
  | ({
      kind: "fault";
      type: "out-of-order" | "duplicate" | "malformed" | "oversized";
      ts: number;
      delay?: number;
      variant?: string;
      bytes?: number;
    } & Located);

export interface StreamOptions {
  readonly format: PayloadFormat;
  readonly faults: readonly FaultPlan[];
  readonly seed: number;
  readonly startMs: number;
  /** device names by index */
  readonly deviceIds: readonly string[];
}

interface Pending {
  at: number;
  seq: number;
  topic: string;
  payload: string;
}

export class MessageStream {
  private readonly heap: Pending[] = [];
  private seq = 0;
  /** event-time offset of the last reading drawn from the source */
  private drawnTo = Number.NEGATIVE_INFINITY;
  private exhausted = false;
  private readonly faultRands: (() => number)[];
  private readonly skews: number[];

  constructor(
    private readonly source: ReadingSource,
    private readonly options: StreamOptions,
    private readonly truth: (record: TruthRecord) => void,
  ) {
    this.faultRands = options.faults.map((_, i) => mulberry32(childSeed(options.seed, 2, i)));
    this.skews = options.deviceIds.map((_, d) => skewOf(options.faults, d));
    for (const c of source.channels)
      truth({ kind: "sensor", device: c.device, sensor: c.sensor, key: c.key, topic: c.topic });
    for (const f of options.faults) {
      if (f.type === "clock-skew")
        for (const d of applicable(f.devices, options.deviceIds.length))
          truth({
            kind: "fault",
            type: f.type,
            device: options.deviceIds[d] as string,
            skew: f.skewMs,
          });
      if (f.type === "offline")
        for (const d of f.devices) {
          const start = options.startMs + f.atMs + (this.skews[d] as number);
          truth({
            kind: "fault",
            type: f.type,
            device: options.deviceIds[d] as string,
            start,
            end: start + f.durationMs,
            buffered: f.buffer,
          });
        }
    }
  }

  /** The device's clock error in ms (0 without a clock-skew fault). */
  skew(device: number): number {
    return this.skews[device] ?? 0;
  }

  next(): SimMessage | undefined {
    while (
      !this.exhausted &&
      (this.heap.length === 0 || (this.heap[0] as Pending).at > this.drawnTo)
    ) {
      const r = this.source.next();
      if (r === undefined) this.exhausted = true;
      else this.add(r);
    }
    const top = popMin(this.heap);
    return top === undefined ? undefined : { at: top.at, topic: top.topic, payload: top.payload };
  }

  private add(r: SourceReading): void {
    const o = this.options;
    const offset = r.ts - o.startMs;
    this.drawnTo = r.sendAt;
    const applies = (f: FaultPlan) => f.devices === undefined || f.devices.includes(r.device);
    // Offline first: the device holds the reading until it is back, or loses it.
    let at = r.sendAt;
    let lost = r.silent;
    for (const f of o.faults)
      if (
        f.type === "offline" &&
        applies(f) &&
        offset >= f.atMs &&
        offset < f.atMs + f.durationMs
      ) {
        if (f.buffer) at = Math.max(at, f.atMs + f.durationMs);
        else lost = true;
      }
    const channel = this.source.channels[r.channel] as Channel;
    const ts = r.ts + (this.skews[r.device] as number);
    let payload = lost ? "" : encode(o.format, channel, ts, r.value);
    let broken = false;
    let duplicate: { delay: number } | undefined;
    const where = () => ({
      device: channel.device,
      sensor: channel.sensor,
      key: channel.key,
      topic: channel.topic,
      ts,
    });
    o.faults.forEach((f, i) => {
      if (f.type === "offline" || f.type === "clock-skew" || !applies(f)) return;
      // Every rate fault draws the same numbers for every reading it may touch, sent or not,
      // so its choices depend neither on the anomalies nor on the other faults.
      const rand = this.faultRands[i] as () => number;
      const hit = rand() < f.rate;
      const second = rand();
      if (!hit || lost) return;
      switch (f.type) {
        case "malformed": {
          const variant =
            MALFORMED_VARIANTS[Math.floor(second * MALFORMED_VARIANTS.length)] ?? "garbage";
          payload = malformed(o.format, variant, channel, ts, r.value);
          broken = true;
          this.truth({ kind: "fault", type: f.type, ...where(), variant });
          return;
        }
        case "oversized":
          if (broken) return;
          payload = encode(
            o.format,
            channel,
            ts,
            r.value,
            Math.max(0, f.bytes - payload.length - 10),
          );
          this.truth({
            kind: "fault",
            type: f.type,
            ...where(),
            bytes: Buffer.byteLength(payload),
          });
          return;
        case "out-of-order": {
          const delay = sampleDelay(f.delay, second);
          at += delay;
          this.truth({ kind: "fault", type: f.type, ...where(), delay });
          return;
        }
        case "duplicate":
          duplicate = { delay: f.delayMs };
          this.truth({ kind: "fault", type: f.type, ...where(), delay: f.delayMs });
          return;
      }
    });
    if (lost) return;
    pushMin(this.heap, { at, seq: this.seq++, topic: channel.topic, payload });
    if (duplicate !== undefined)
      pushMin(this.heap, {
        at: at + duplicate.delay,
        seq: this.seq++,
        topic: channel.topic,
        payload,
      });
  }
}

function applicable(devices: readonly number[] | undefined, count: number): readonly number[] {
  return devices ?? Array.from({ length: count }, (_, i) => i);
}

function skewOf(faults: readonly FaultPlan[], device: number): number {
  let skew = 0;
  for (const f of faults)
    if (f.type === "clock-skew" && (f.devices === undefined || f.devices.includes(device)))
      skew += f.skewMs;
  return skew;
}

/** A delay in whole ms from the plan's distribution for a uniform draw `u`, clamped to [min, max]. */
export function sampleDelay(d: DelayPlan, u: number): number {
  let ms: number;
  if (d.distribution === "fixed") ms = d.meanMs;
  else if (d.distribution === "uniform") ms = d.minMs + u * (d.maxMs - d.minMs);
  else ms = d.minMs - d.meanMs * Math.log(1 - u);
  return Math.round(Math.min(d.maxMs, Math.max(d.minMs, ms)));
}

const before = (a: Pending, b: Pending) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

function pushMin(heap: Pending[], item: Pending): void {
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i] as Pending, heap[parent] as Pending)) break;
    [heap[i], heap[parent]] = [heap[parent] as Pending, heap[i] as Pending];
    i = parent;
  }
}

function popMin(heap: Pending[]): Pending | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0 && last !== undefined) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l] as Pending, heap[m] as Pending)) m = l;
      if (r < heap.length && before(heap[r] as Pending, heap[m] as Pending)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m] as Pending, heap[i] as Pending];
      i = m;
    }
  }
  return top;
}
