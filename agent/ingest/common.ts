/**
 * What every payload decoder shares: the plan a source gives it, the sink it puts its
 * readings and dead letters in (never exceptions: CONVENTIONS.md 9), sensor ids from topic
 * levels, field paths, times and unit scaling. A source's plan is turned into a decoder
 * function once (CONVENTIONS.md 10); one format per file beside this one, decode.ts picks.
 */
import type { CompiledSource } from "../compile/plan.js";
import type { Reading } from "../engine/types.js";

export type TimeFormat = CompiledSource["timeFormat"];

/** How one source reads a payload: its compiled form without its name and topic filter. */
export type SourcePlan = Omit<CompiledSource, "name" | "topic">;

export type DeadLetterReason = "bad_payload" | "bad_value" | "bad_ts" | "bad_sensor";

export interface FormatDeadLetter {
  reason: DeadLetterReason;
  detail: string;
}

/** What a decoder found, collected (tests, tools); the agent's hot path uses a DecodeSink. */
export interface Decoded {
  readings: Reading[];
  dead: FormatDeadLetter[];
}

/** Where a decoder puts each reading and each dead letter, as it finds them. */
export interface DecodeSink {
  reading(reading: Reading): void;
  dead(reason: DeadLetterReason, detail: string): void;
}

/** A source's decoder: one message in, its readings and dead letters out to `sink`. */
export type Decoder = (topic: string, payload: Buffer, arrivalMs: number, sink: DecodeSink) => void;

/** A sensor id from a topic (and, for some formats, names each reading brings); undefined when a level is missing. */
export type SensorTemplate = (
  topic: string,
  names?: Readonly<Record<string, string>>,
) => string | undefined;

type TemplatePart = string | { readonly name: string; readonly level: number };

/**
 * Compiles a template of `{N}` (topic level N, from 0), `{topic}`, and the names a format
 * gives each reading (`{name}` for SenML, `{measurement}` and `{field}` for line protocol).
 * A template that is a run of consecutive levels (`{1}/{2}`) takes one slice of the topic.
 */
export function sensorTemplate(template: string): SensorTemplate {
  const parts: TemplatePart[] = template
    .split(/\{(\w+)\}/)
    .map((text, i) => (i % 2 === 0 ? text : { name: text, level: Number(text) }))
    .filter((part) => part !== "");
  const run = levelRun(parts);
  if (run !== undefined) return (topic) => levelSlice(topic, run[0], run[1]);
  return (topic, names) => {
    let id = "";
    for (const part of parts) {
      if (typeof part === "string") id += part;
      else if (part.name === "topic") id += topic;
      else if (names?.[part.name] !== undefined) id += names[part.name];
      else {
        const level = levelSlice(topic, part.level, part.level);
        if (level === undefined) return undefined;
        id += level;
      }
    }
    return id;
  };
}

/** `[first, last]` when the parts are `{first}/{first+1}/…/{last}`. */
function levelRun(parts: readonly TemplatePart[]): [number, number] | undefined {
  const first = parts[0];
  if (first === undefined || typeof first === "string" || !Number.isInteger(first.level))
    return undefined;
  let last = first.level;
  for (let i = 1; i < parts.length; i += 2) {
    const next = parts[i + 1];
    if (parts[i] !== "/" || next === undefined || typeof next === "string") return undefined;
    if (next.level !== last + 1) return undefined;
    last = next.level;
  }
  return parts.length % 2 === 1 ? [first.level, last] : undefined;
}

/** Levels `first` to `last` of a topic (from 0), or undefined if one is missing or empty. */
function levelSlice(topic: string, first: number, last: number): string | undefined {
  if (!Number.isInteger(first) || first < 0) return undefined;
  let start = 0;
  for (let i = 0; i < first; i++) {
    start = topic.indexOf("/", start) + 1;
    if (start === 0) return undefined;
  }
  let end = start;
  for (let level = first; ; level++) {
    const slash = topic.indexOf("/", end);
    const levelEnd = slash === -1 ? topic.length : slash;
    if (levelEnd === end) return undefined; // an empty level
    if (level === last) return topic.slice(start, levelEnd);
    if (slash === -1) return undefined;
    end = slash + 1;
  }
}

/** The sensor id from a topic by a template (compiled each call: for tests and tools). */
export function sensorFromTopic(
  template: string,
  topic: string,
  names?: Readonly<Record<string, string>>,
): string | undefined {
  return sensorTemplate(template)(topic, names);
}

/** A dotted path's reader, compiled once: one property read for a plain name. */
export function fieldGetter(path: string): (value: unknown) => unknown {
  const parts = path.split(".");
  const only = parts[0] as string;
  if (parts.length === 1)
    return (value) =>
      value !== null && typeof value === "object"
        ? (value as Record<string, unknown>)[only]
        : undefined;
  return (value) => {
    let node = value;
    for (const part of parts) {
      if (node === null || typeof node !== "object") return undefined;
      node = (node as Record<string, unknown>)[part];
    }
    return node;
  };
}

const DECIMAL = /^[0-9]+(\.[0-9]+)?$/;

/** The latest time a JavaScript Date can hold (year 275760): a later one is not a time. */
const MAX_TIME_MS = 8.64e15;

/**
 * The magnitude a reading's value may have: far beyond any sensor, and small enough that
 * sums, means and variances of readings cannot overflow to Infinity (a value of 1e308 twice
 * would, and its window's mean would come out null).
 */
export const MAX_VALUE = 1e100;

/** Whether a value (after scaling) is one the engine can aggregate faithfully. */
export function isReadingValue(v: unknown): v is number {
  return typeof v === "number" && v >= -MAX_VALUE && v <= MAX_VALUE;
}

/** Why a value is not one: "not a number", or "out of range". */
export function valueProblem(v: unknown): string {
  return typeof v === "number" && !Number.isNaN(v)
    ? `${describe(v)} is out of range (±${MAX_VALUE})`
    : `must be a finite number, got ${describe(v)}`;
}

/**
 * A value as a dead letter's detail: short, and safe for anything JSON can hold (a value
 * nested 10,000 arrays deep would overflow JSON.stringify's stack; Infinity would print null).
 */
export function describe(v: unknown): string {
  if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined)
    return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return Array.isArray(v) ? `an array of ${v.length}` : "an object";
}

/** Event time in ms from a field's value, or undefined when it is not one. */
export function parseTime(raw: unknown, format: TimeFormat): number | undefined {
  if (typeof raw === "number" && format === "ms")
    return Number.isFinite(raw) && raw >= 0 && raw <= MAX_TIME_MS ? Math.floor(raw) : undefined;
  if (format === "iso8601") {
    if (typeof raw !== "string") return undefined;
    const ms = Date.parse(raw);
    return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
  }
  // Text only as plain decimal digits: Number() would also take "0x10", "1e3" or " ".
  const n = typeof raw === "string" && DECIMAL.test(raw) ? Number(raw) : raw;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return undefined;
  const ms = Math.floor(format === "s" ? n * 1000 : n);
  return ms <= MAX_TIME_MS ? ms : undefined;
}

/** `value × factor + offset`, compiled away when the source sets no scale. */
export function scaler(plan: SourcePlan): (value: number) => number {
  const { factor, offset } = plan;
  return factor === 1 && offset === 0 ? (v) => v : (v) => v * factor + offset;
}

/** A dead letter's detail for a payload that is not JSON: its first characters. */
export function notJson(payload: Buffer): string {
  const text = payload.subarray(0, 60).toString("utf8");
  return `not JSON: ${JSON.stringify(text)}${payload.length > 60 ? "…" : ""}`;
}

/** The detail of a topic that lacks a level the sensor template names. */
export function misfit(plan: SourcePlan, topic: string): string {
  return `topic ${topic} does not fit "${plan.sensor}"`;
}

export const NOT_JSON: unique symbol = Symbol("not JSON");

export function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString("utf8"));
  } catch {
    return NOT_JSON;
  }
}
