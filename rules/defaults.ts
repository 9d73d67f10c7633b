/**
 * The rules language's defaults: what a rules file means where it says nothing. The
 * checker (checks.ts) and the compiler (agent/compile) both read them from here.
 */
import type { RuleSpec } from "./schema.js";

export const DEFAULT_WINDOW_MS = 60_000;
export const DEFAULT_AGGREGATES: readonly string[] = ["count", "mean", "min", "max"];
/** Panes a hopping or sliding window may keep per key (each is a few dozen bytes). */
export const MAX_PANES = 10_000;
/** Where alerts are published on the edge broker unless a rule names a local topic. */
export const DEFAULT_ALERT_TOPIC = "brook/{device}/alert/{rule}/{key}";
/** The sensor id of each format's readings unless a source says otherwise. */
export const DEFAULT_SENSOR = {
  json: "{topic}",
  number: "{topic}",
  senml: "{name}",
  influx: "{measurement}/{field}",
} as const;

/** Placeholders a source's sensor template may use, by format, beside `{topic}` and `{N}`. */
export const SENSOR_NAMES: Record<keyof typeof DEFAULT_SENSOR, readonly string[]> = {
  json: [],
  number: [],
  senml: ["name"],
  influx: ["measurement", "field"],
};

/** The topic the foundation's JSON readings arrive on when a rules file defines no sources. */
export const DEFAULT_INGEST_TOPIC = "sensors/+/+";

/** Whether a rule's alerts go to the edge broker when it names no local topic. */
export function localAlertsOn(rule: RuleSpec): boolean {
  return (rule.detectors?.length ?? 0) > 0 && rule.outputs?.localAlerts !== false;
}
