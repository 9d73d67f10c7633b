/**
 * Signal models: what one sensor of each kind reads over time. Each sensor draws from its
 * own seeded generator, called once per reading in time order, so its values depend only
 * on (seed, device, sensor, its reading times) — not on anomalies, faults or other sensors.
 */
import { gaussian, mulberry32 } from "./random.js";

export const SENSOR_KINDS = [
  "temperature",
  "humidity",
  "pressure",
  "vibration",
  "energy",
  "door",
] as const;
export type SensorKind = (typeof SENSOR_KINDS)[number];

export interface SignalModel {
  /** The value at event time `ts`; called once per reading, times increasing. */
  next(ts: number): number;
}

export interface KindInfo {
  /** SenML unit (RFC 8428 §12.1) */
  readonly senmlUnit: string;
  /** values are rounded to this many decimals when published */
  readonly decimals: number;
  /** an anomaly's size when a scenario does not give one, in the sensor's unit */
  readonly defaultMagnitude: number;
  create(rand: () => number): SignalModel;
}

const DAY_MS = 86_400_000;
const daily = (ts: number, phase = 0) => Math.sin((2 * Math.PI * (ts % DAY_MS)) / DAY_MS + phase);

/** AR(1) noise with standard deviation `sd` and lag-1 correlation `phi`: sensors are not white. */
function ar1(rand: () => number, sd: number, phi: number): () => number {
  let e = 0;
  const innovation = sd * Math.sqrt(1 - phi * phi);
  return () => {
    e = phi * e + innovation * gaussian(rand);
    return e;
  };
}

export const KINDS: Readonly<Record<SensorKind, KindInfo>> = {
  temperature: {
    senmlUnit: "Cel",
    decimals: 2,
    defaultMagnitude: 5,
    create(rand) {
      const base = 18 + 6 * rand();
      const noise = ar1(rand, 0.15, 0.6);
      return { next: (ts) => base + 3 * daily(ts, -Math.PI / 2) + noise() };
    },
  },
  humidity: {
    senmlUnit: "%RH",
    decimals: 1,
    defaultMagnitude: 15,
    create(rand) {
      const base = 45 + 15 * rand();
      const noise = ar1(rand, 0.6, 0.5);
      // Air is driest in the warm afternoon: the cycle runs against temperature's.
      return {
        next: (ts) => Math.min(100, Math.max(0, base - 8 * daily(ts, -Math.PI / 2) + noise())),
      };
    },
  },
  pressure: {
    senmlUnit: "hPa",
    decimals: 2,
    defaultMagnitude: 8,
    create(rand) {
      let level = 1000 + 20 * rand();
      const noise = ar1(rand, 0.1, 0.3);
      // Weather: a slow random walk pulled back towards 1013.
      return {
        next: () => {
          level += 0.02 * gaussian(rand) + 0.0001 * (1013 - level);
          return level + noise();
        },
      };
    },
  },
  vibration: {
    senmlUnit: "mm/s",
    decimals: 3,
    defaultMagnitude: 6,
    create(rand) {
      const base = 2 + 2 * rand();
      const noise = ar1(rand, 0.08, 0.4);
      // RMS velocity of a machine: positive, skewed, louder on the day shift.
      return { next: (ts) => base * (1 + 0.25 * daily(ts)) * Math.exp(noise()) };
    },
  },
  energy: {
    senmlUnit: "kWh",
    decimals: 3,
    defaultMagnitude: 5,
    create(rand) {
      const watts = 200 + 600 * rand();
      let kwh = 1000 * rand();
      let last: number | undefined;
      // A meter's counter: it only goes up, by the energy used since the last reading.
      return {
        next: (ts) => {
          const power = Math.max(0, watts * (1 + 0.5 * daily(ts)) * (1 + 0.1 * gaussian(rand)));
          if (last !== undefined) kwh += (power * (ts - last)) / 3_600_000_000;
          last = ts;
          return kwh;
        },
      };
    },
  },
  door: {
    senmlUnit: "",
    decimals: 0,
    defaultMagnitude: 1,
    create(rand) {
      let open = false;
      // A contact: opened now and then (1 % of readings), closed again after ~5 readings.
      return {
        next: () => {
          open = open ? rand() >= 0.2 : rand() < 0.01;
          return open ? 1 : 0;
        },
      };
    },
  },
};

/** Mixes a seed and indices into an independent 32-bit seed (splitmix32 finaliser). */
export function childSeed(seed: number, ...parts: number[]): number {
  let h = seed >>> 0;
  for (const p of parts) {
    h = (h + Math.imul(p + 1, 0x9e3779b9)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/** The model of sensor `sensor` of device `device` (0-based) in a fleet run with `seed`. */
export function sensorModel(
  kind: SensorKind,
  seed: number,
  device: number,
  sensor: number,
): SignalModel {
  return KINDS[kind].create(mulberry32(childSeed(seed, 1, device, sensor)));
}
