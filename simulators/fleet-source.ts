/**
 * Readings of a simulated fleet: every sensor of every device once per interval, each
 * from its signal model, with the scenario's anomalies applied. Sensors are staggered
 * evenly across the interval, so a fleet publishes at a steady rate, not in bursts.
 */
import { childSeed, KINDS, type SensorKind, type SignalModel, sensorModel } from "./models.js";
import type { Channel } from "./payloads.js";
import { gaussian, mulberry32 } from "./random.js";
import type { AnomalyPlan, ScenarioPlan } from "./scenario.js";
import {
  blankReading,
  MessageStream,
  type ReadingSource,
  type SourceReading,
  type TruthRecord,
} from "./stream.js";

interface ActiveAnomaly {
  readonly index: number;
  readonly plan: AnomalyPlan;
  readonly rand: () => number;
  /** the occurrence being applied, -1 before the first */
  occurrence: number;
  stuckValue: number;
}

export function topicFor(template: string, device: string, sensor: string): string {
  return template.replaceAll("{device}", device).replaceAll("{sensor}", sensor);
}

export class FleetSource implements ReadingSource {
  readonly channels: Channel[] = [];
  private readonly models: SignalModel[] = [];
  private readonly deviceOf: number[] = [];
  private readonly kinds: SensorKind[] = [];
  private readonly stagger: number[] = [];
  private readonly anomalies: ActiveAnomaly[][] = [];
  private tick = 0;
  private channel = 0;
  private readonly reading = blankReading();

  constructor(
    private readonly plan: ScenarioPlan,
    /** the device's clock error, to stamp truth as the device would */
    private readonly skew: (device: number) => number,
    private readonly truth: (record: TruthRecord) => void,
  ) {
    const count = plan.deviceIds.length * plan.sensors.length;
    plan.deviceIds.forEach((device, d) => {
      plan.sensors.forEach((kind, s) => {
        const c = this.channels.length;
        const info = KINDS[kind];
        this.channels.push({
          device,
          sensor: kind,
          topic: topicFor(plan.topic, device, kind),
          key: `${device}/${kind}`,
          decimals: info.decimals,
          senmlUnit: info.senmlUnit,
        });
        this.models.push(sensorModel(kind, plan.seed, d, s));
        this.deviceOf.push(d);
        this.kinds.push(kind);
        this.stagger.push(Math.floor((c * plan.intervalMs) / count));
        this.anomalies.push(
          plan.anomalies.flatMap((a, index) =>
            a.devices.includes(d) && a.sensors.includes(s)
              ? [
                  {
                    index,
                    plan: a,
                    rand: mulberry32(childSeed(plan.seed, 3, index, c)),
                    occurrence: -1,
                    stuckValue: 0,
                  },
                ]
              : [],
          ),
        );
      });
    });
  }

  next(): SourceReading | undefined {
    const c = this.channel;
    const offset = this.tick * this.plan.intervalMs + (this.stagger[c] as number);
    if (this.plan.durationMs !== undefined && offset >= this.plan.durationMs) return undefined;
    this.channel++;
    if (this.channel === this.channels.length) {
      this.channel = 0;
      this.tick++;
    }
    const r = this.reading;
    r.channel = c;
    r.device = this.deviceOf[c] as number;
    r.ts = this.plan.startMs + offset;
    r.sendAt = offset;
    r.value = (this.models[c] as SignalModel).next(r.ts);
    r.silent = false;
    for (const a of this.anomalies[c] as ActiveAnomaly[]) this.apply(a, c, offset, r);
    return r;
  }

  private apply(a: ActiveAnomaly, c: number, offset: number, r: SourceReading): void {
    const p = a.plan;
    if (offset < p.atMs) return;
    const j = p.everyMs === undefined ? 0 : Math.floor((offset - p.atMs) / p.everyMs);
    if (j >= p.count) return;
    const from = p.atMs + j * (p.everyMs ?? 0);
    const into = offset - from;
    if (into >= Math.max(p.durationMs, this.plan.intervalMs)) return;
    const magnitude = p.magnitude ?? KINDS[this.kinds[c] as SensorKind].defaultMagnitude;
    if (a.occurrence !== j) {
      a.occurrence = j;
      a.stuckValue = r.value;
      const channel = this.channels[c] as Channel;
      // Shorter than an interval, it is one reading's: its truth is that reading's time.
      const oneReading = p.durationMs < this.plan.intervalMs;
      const start = (oneReading ? r.ts : this.plan.startMs + from) + this.skew(r.device);
      this.truth({
        kind: "anomaly",
        type: p.type,
        device: channel.device,
        sensor: channel.sensor,
        key: channel.key,
        topic: channel.topic,
        start,
        end: oneReading ? start : start + p.durationMs,
        magnitude,
        occurrence: j,
      });
    }
    switch (p.type) {
      case "spike":
      case "level-shift":
        r.value += magnitude;
        break;
      case "dip":
        r.value -= magnitude;
        break;
      case "drift":
        r.value += (magnitude * into) / p.durationMs;
        break;
      case "stuck":
        r.value = a.stuckValue;
        break;
      case "silence":
        r.silent = true;
        break;
      case "noise-burst":
        r.value += magnitude * gaussian(a.rand);
        break;
    }
  }
}

/** A scenario's message stream: its fleet's readings, through its faults. */
export function fleetStream(
  plan: ScenarioPlan,
  truth: (record: TruthRecord) => void,
): MessageStream {
  // The stream knows each device's clock skew; the fleet stamps its truth with it.
  let stream: MessageStream | undefined;
  const source = new FleetSource(plan, (d) => stream?.skew(d) ?? 0, truth);
  stream = new MessageStream(
    source,
    {
      format: plan.format,
      faults: plan.faults,
      seed: plan.seed,
      startMs: plan.startMs,
      deviceIds: plan.deviceIds,
    },
    truth,
  );
  return stream;
}
