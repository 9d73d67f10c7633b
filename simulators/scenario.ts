/**
 * Scenario files: a fleet, its sensors and payload format, anomalies injected on a
 * schedule, and network and device faults. Loaded like a rules file — every problem with
 * FILE:LINE:COL — then planned into milliseconds and indices and frozen.
 */
import { readFileSync } from "node:fs";
import { parseByteSize, parseDuration } from "../rules/duration.js";
import {
  deepFreeze,
  formatProblem,
  type Problem,
  parseYamlDocument,
  schemaProblems,
} from "../rules/validate-yaml.js";
import type { SensorKind } from "./models.js";
import type { AnomalyType, FaultSpec, PayloadFormat, ScenarioSpec } from "./scenario-schema.js";
// Compiled from ./scenario-schema.ts by `npm run schema` (scripts/validators.ts).
import { ScenarioFile as validateScenario } from "./validators.gen.cjs";

const ISO_WITH_ZONE = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/;

export const SCENARIO_DEFAULTS = {
  seed: 1,
  start: "now",
  intervalMs: 1_000,
  devices: 4,
  sensors: ["temperature"] as SensorKind[],
  format: "json" as PayloadFormat,
  topic: "sensors/{device}/{sensor}",
  delay: { distribution: "exponential", meanMs: 2_000, minMs: 0, maxMs: 30_000 } as const,
  oversizedBytes: 256 * 1024,
};

export interface AnomalyPlan {
  readonly type: AnomalyType;
  readonly atMs: number;
  /** 0: one reading (spike, dip) */
  readonly durationMs: number;
  readonly everyMs: number | undefined;
  /** occurrences; Infinity with `every` and no `count` */
  readonly count: number;
  /** 0-based device indices */
  readonly devices: readonly number[];
  /** indices into the scenario's sensors */
  readonly sensors: readonly number[];
  /** undefined: the sensor kind's default */
  readonly magnitude: number | undefined;
}

export interface DelayPlan {
  readonly distribution: "exponential" | "uniform" | "fixed";
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/** `devices`: 0-based indices the fault applies to; undefined: every device. */
export type FaultPlan =
  | {
      readonly type: "out-of-order";
      readonly rate: number;
      readonly devices?: readonly number[];
      readonly delay: DelayPlan;
    }
  | {
      readonly type: "duplicate";
      readonly rate: number;
      readonly devices?: readonly number[];
      readonly delayMs: number;
    }
  | { readonly type: "malformed"; readonly rate: number; readonly devices?: readonly number[] }
  | {
      readonly type: "oversized";
      readonly rate: number;
      readonly devices?: readonly number[];
      readonly bytes: number;
    }
  | {
      readonly type: "offline";
      readonly devices: readonly number[];
      readonly atMs: number;
      readonly durationMs: number;
      readonly buffer: boolean;
    }
  | { readonly type: "clock-skew"; readonly devices?: readonly number[]; readonly skewMs: number };

export interface ScenarioPlan {
  readonly name: string;
  readonly seed: number;
  readonly startMs: number;
  /** the file (or --start) said "now": the runner may move the start back so a fast run ends now */
  readonly startIsNow: boolean;
  /** event time the stream covers; undefined: until stopped */
  readonly durationMs: number | undefined;
  readonly intervalMs: number;
  readonly deviceIds: readonly string[];
  readonly sensors: readonly SensorKind[];
  readonly format: PayloadFormat;
  readonly topic: string;
  readonly anomalies: readonly AnomalyPlan[];
  readonly faults: readonly FaultPlan[];
}

/** Command-line settings that replace the file's (or make a scenario without a file). */
export interface ScenarioOverrides {
  seed?: number;
  start?: string;
  duration?: string;
  interval?: string;
  devices?: number;
  sensors?: string[];
  format?: string;
  topic?: string;
}

export type ScenarioLoad = { ok: true; plan: ScenarioPlan } | { ok: false; problems: Problem[] };

export function deviceIds(count: number): string[] {
  const width = Math.max(2, String(count).length);
  return Array.from({ length: count }, (_, i) => `device-${String(i + 1).padStart(width, "0")}`);
}

export function loadScenarioFile(
  file: string,
  overrides: ScenarioOverrides,
  nowMs: number,
): ScenarioLoad {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    return { ok: false, problems: [{ where: file, path: "", message: `cannot read (${reason})` }] };
  }
  return parseScenario(file, text, overrides, nowMs);
}

/** `text` may be empty: a scenario of the defaults and the overrides alone. */
export function parseScenario(
  file: string,
  text: string,
  overrides: ScenarioOverrides,
  nowMs: number,
): ScenarioLoad {
  const doc = parseYamlDocument(file, text);
  if (doc.problems.length > 0) return { ok: false, problems: doc.problems };
  const raw = doc.value ?? {};
  if (typeof raw !== "object" || Array.isArray(raw))
    return {
      ok: false,
      problems: [
        { where: `${file}:1:1`, path: "", message: "a scenario is a mapping of settings" },
      ],
    };
  const value: Record<string, unknown> = { ...(raw as object) };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) value[k] = v;
  // A setting given on the command line is reported at its flag, not in the file.
  const flag = (path: readonly (string | number)[]) => {
    const top = String(path[0] ?? "");
    return (overrides as Record<string, unknown>)[top] !== undefined ? `--${top}` : undefined;
  };
  const where = (path: (string | number)[]) => flag(path) ?? doc.locate(path);
  if (!validateScenario(value)) {
    const problems = schemaProblems(validateScenario.errors ?? [], doc.locate, flag);
    return { ok: false, problems };
  }
  const spec = value as ScenarioSpec;
  const problems: Problem[] = [];
  const problem = (path: (string | number)[], message: string) =>
    problems.push({ where: where(path), path: path.join("."), message });
  const ms = (text: string | undefined, fallback: number) =>
    text === undefined ? fallback : (parseDuration(text) as number);

  let startMs = nowMs;
  const start = spec.start ?? SCENARIO_DEFAULTS.start;
  if (start !== "now") {
    startMs = Date.parse(start);
    // A time without a zone would be read in the machine's zone: the same seed would then
    // give another stream elsewhere.
    if (!Number.isFinite(startMs) || !ISO_WITH_ZONE.test(start))
      problem(
        ["start"],
        `must be an ISO 8601 time with its zone, such as "2026-01-01T00:00:00Z", or "now"`,
      );
  }
  const devices = spec.devices ?? SCENARIO_DEFAULTS.devices;
  const sensors = (spec.sensors ?? SCENARIO_DEFAULTS.sensors) as SensorKind[];
  const intervalMs = ms(spec.interval, SCENARIO_DEFAULTS.intervalMs);
  if (intervalMs < 1) problem(["interval"], "must be at least 1ms");
  const durationMs = spec.duration === undefined ? undefined : ms(spec.duration, 0);
  if (durationMs === 0)
    problem(["duration"], "must be longer than 0 (leave it out to run until stopped)");
  const deviceList = (ref: number | "all" | undefined, path: (string | number)[]) => {
    if (ref === undefined || ref === "all") return Array.from({ length: devices }, (_, i) => i);
    if (ref > devices) problem(path, `device ${ref}, but the scenario has ${devices} devices`);
    return [ref - 1];
  };
  const pastEnd = (atMs: number, path: (string | number)[]) => {
    if (durationMs !== undefined && atMs >= durationMs)
      problem(path, `starts at or after the end of the scenario's ${spec.duration}`);
  };

  const anomalies: AnomalyPlan[] = (spec.anomalies ?? []).map((a, i) => {
    const path = ["anomalies", i];
    let sensorIdx: number[];
    if (a.sensor === undefined) sensorIdx = [0];
    else if (a.sensor === "all") sensorIdx = sensors.map((_, j) => j);
    else {
      sensorIdx = [sensors.indexOf(a.sensor)];
      if (sensorIdx[0] === -1)
        problem(
          [...path, "sensor"],
          `"${a.sensor}" is not one of the scenario's sensors (${sensors.join(", ")})`,
        );
    }
    if (a.type !== "stuck" && a.type !== "silence" && sensorIdx.some((j) => sensors[j] === "door"))
      problem(
        [...path, "type"],
        `a door contact reads 0 or 1: only "stuck" and "silence" apply to it`,
      );
    const atMs = ms(a.at, 0);
    pastEnd(atMs, [...path, "at"]);
    const oneReading = a.type === "spike" || a.type === "dip";
    const durationMs = ms(a.duration, oneReading ? 0 : 60_000);
    if (!oneReading && durationMs < intervalMs)
      problem(
        [...path, "duration"],
        `a ${a.type} must last at least one interval (${spec.interval ?? "1s"})`,
      );
    const everyMs = a.every === undefined ? undefined : ms(a.every, 0);
    if (everyMs !== undefined && everyMs < intervalMs)
      problem([...path, "every"], `must be at least the interval (${spec.interval ?? "1s"})`);
    else if (everyMs !== undefined && everyMs <= durationMs)
      problem(
        [...path, "every"],
        "must be longer than the anomaly's duration, so occurrences do not overlap",
      );
    if (a.count !== undefined && a.count > 1 && everyMs === undefined)
      problem([...path, "count"], "a count above 1 needs `every`");
    if (
      a.magnitude !== undefined &&
      a.magnitude <= 0 &&
      a.type !== "level-shift" &&
      a.type !== "drift"
    )
      problem([...path, "magnitude"], `must be positive for a ${a.type} (a dip goes down by it)`);
    return {
      type: a.type,
      atMs,
      durationMs,
      everyMs,
      count: a.count ?? (everyMs === undefined ? 1 : Number.POSITIVE_INFINITY),
      devices: deviceList(a.device ?? 1, [...path, "device"]),
      sensors: sensorIdx,
      magnitude: a.magnitude,
    };
  });

  const format = spec.format ?? SCENARIO_DEFAULTS.format;
  (spec.faults ?? []).forEach((f, i) => {
    if (f.type === "clock-skew" && format === "number")
      problem(
        ["faults", i, "type"],
        "a plain number carries no time, so a clock skew cannot show in it",
      );
  });
  const faults: FaultPlan[] = (spec.faults ?? []).map((f, i) =>
    planFault(f, ["faults", i], deviceList, ms, pastEnd, problem),
  );
  if (problems.length > 0) return { ok: false, problems };
  const plan: ScenarioPlan = {
    name: spec.name ?? "scenario",
    seed: spec.seed ?? SCENARIO_DEFAULTS.seed,
    startMs,
    startIsNow: start === "now",
    durationMs,
    intervalMs,
    deviceIds: deviceIds(devices),
    sensors,
    format,
    topic: spec.topic ?? SCENARIO_DEFAULTS.topic,
    anomalies,
    faults,
  };
  return { ok: true, plan: deepFreeze(plan) };
}

function planFault(
  f: FaultSpec,
  path: (string | number)[],
  deviceList: (ref: number | "all" | undefined, path: (string | number)[]) => number[],
  ms: (text: string | undefined, fallback: number) => number,
  pastEnd: (atMs: number, path: (string | number)[]) => void,
  problem: (path: (string | number)[], message: string) => void,
): FaultPlan {
  const devices = (ref: number | "all" | undefined) =>
    ref === undefined || ref === "all" ? undefined : deviceList(ref, [...path, "device"]);
  switch (f.type) {
    case "out-of-order": {
      const d = SCENARIO_DEFAULTS.delay;
      const delay: DelayPlan = {
        distribution: f.delay?.distribution ?? d.distribution,
        meanMs: ms(f.delay?.mean, d.meanMs),
        minMs: ms(f.delay?.min, d.minMs),
        maxMs: ms(f.delay?.max, d.maxMs),
      };
      if (delay.minMs > delay.maxMs) problem([...path, "delay"], "min is above max");
      return { type: f.type, rate: f.rate, devices: devices(f.device), delay };
    }
    case "duplicate":
      return { type: f.type, rate: f.rate, devices: devices(f.device), delayMs: ms(f.delay, 0) };
    case "malformed":
      return { type: f.type, rate: f.rate, devices: devices(f.device) };
    case "oversized":
      return {
        type: f.type,
        rate: f.rate,
        devices: devices(f.device),
        bytes: parseByteSize(f.bytes ?? SCENARIO_DEFAULTS.oversizedBytes) as number,
      };
    case "offline": {
      const atMs = ms(f.at, 0);
      pastEnd(atMs, [...path, "at"]);
      return {
        type: f.type,
        devices: deviceList(f.device, [...path, "device"]),
        atMs,
        durationMs: ms(f.duration, 0),
        buffer: f.buffer ?? true,
      };
    }
    case "clock-skew": {
      const skew = f.skew.startsWith("-") ? -ms(f.skew.slice(1), 0) : ms(f.skew, 0);
      return { type: f.type, devices: devices(f.device), skewMs: skew };
    }
  }
}

/** Problems as the CLI prints them. */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map(formatProblem).join("\n");
}
