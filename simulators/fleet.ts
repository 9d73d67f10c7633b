/**
 * A small simulated fleet for the demo: temperature-like sensors with a daily cycle,
 * noise and an occasional spike. Pure: the same seed gives the same readings.
 */
import { gaussian, mulberry32 } from "./random.js";

export interface FleetOptions {
  devices: number;
  sensorsPerDevice: number;
  seed: number;
  /** probability that one reading is a spike */
  spikeProbability: number;
}

export interface SimReading {
  topic: string;
  ts: number;
  value: number;
  spike: boolean;
}

const DAY_MS = 86_400_000;
const SENSOR_KINDS = ["temperature", "humidity", "pressure", "vibration"];

export class Fleet {
  private readonly rand: () => number;
  readonly topics: string[];
  private readonly baselines: number[];

  constructor(private readonly options: FleetOptions) {
    this.rand = mulberry32(options.seed);
    this.topics = [];
    this.baselines = [];
    for (let d = 0; d < options.devices; d++) {
      for (let s = 0; s < options.sensorsPerDevice; s++) {
        const kind = SENSOR_KINDS[s % SENSOR_KINDS.length] as string;
        this.topics.push(`sensors/device-${String(d + 1).padStart(2, "0")}/${kind}`);
        this.baselines.push(20 + 10 * this.rand());
      }
    }
  }

  /** One reading per sensor at event time `ts`. */
  tick(ts: number): SimReading[] {
    const phase = Math.sin((2 * Math.PI * (ts % DAY_MS)) / DAY_MS);
    return this.topics.map((topic, i) => {
      const spike = this.rand() < this.options.spikeProbability;
      const base = (this.baselines[i] as number) + 3 * phase;
      const value = base + 0.2 * gaussian(this.rand) + (spike ? 15 : 0);
      return { topic, ts, value: Math.round(value * 1000) / 1000, spike };
    });
  }
}
