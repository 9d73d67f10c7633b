/**
 * Payload decoders for the formats sensors publish: `json` (field paths, one reading or an
 * array), `senml` (RFC 8428 JSON), `number` (a plain-text number) and `influx` (InfluxDB
 * line protocol). Pure: a payload, its topic and the arrival time in; readings and dead
 * letters out. Bad input is a value, never an exception (CONVENTIONS.md 9).
 *
 * These are the decoders the rules file's `sources:` select (see docs/RULES.md); the
 * foundation's fixed `sensors/<device>/<sensor>` JSON ingest is decode.ts.
 */
import { parsedOnce } from "../../rules/memo.js";
import { topicMatches } from "../../rules/topic.js";
import type { Reading } from "../engine/types.js";

export type TimeFormat = "ms" | "s" | "iso8601";

export interface SourcePlan {
  format: "json" | "senml" | "number" | "influx";
  /** sensor id from topic levels: `{0}` is the first level, `{topic}` the whole topic */
  sensor: string;
  /** json: dotted paths into each reading object */
  valuePath: string;
  timePath: string | undefined;
  sensorPath: string | undefined;
  tagPaths: Record<string, string>;
  timeFormat: TimeFormat;
  /** value × factor + offset (unit conversion) */
  factor: number;
  offset: number;
}

export const DEFAULT_JSON_SOURCE: SourcePlan = {
  format: "json",
  sensor: "{1}/{2}",
  valuePath: "value",
  timePath: "ts",
  sensorPath: undefined,
  tagPaths: {},
  timeFormat: "ms",
  factor: 1,
  offset: 0,
};

export interface FormatDeadLetter {
  reason: "bad_payload" | "bad_value" | "bad_ts" | "bad_sensor";
  detail: string;
}

export interface Decoded {
  readings: Reading[];
  dead: FormatDeadLetter[];
}

/**
 * Expands `{N}` (topic level N, from 0), `{topic}`, and the names a format gives each
 * reading (`{name}` for SenML, `{measurement}` and `{field}` for line protocol); undefined
 * when a level is missing.
 */
export function sensorFromTopic(
  template: string,
  topic: string,
  names?: Readonly<Record<string, string>>,
): string | undefined {
  let id = "";
  for (const part of templateParts(template)) {
    if (typeof part === "string") id += part;
    else if (part.name === "topic") id += topic;
    else if (names?.[part.name] !== undefined) id += names[part.name];
    else {
      const level = topicLevel(topic, part.level);
      if (level === undefined) return undefined;
      id += level;
    }
  }
  return id;
}

/** Level `n` of a topic (from 0), or undefined if it has no such level or it is empty. */
function topicLevel(topic: string, n: number): string | undefined {
  if (!Number.isInteger(n) || n < 0) return undefined;
  let start = 0;
  for (let i = 0; i < n; i++) {
    start = topic.indexOf("/", start) + 1;
    if (start === 0) return undefined;
  }
  const end = topic.indexOf("/", start);
  return end === start || start === topic.length
    ? undefined
    : topic.slice(start, end === -1 ? undefined : end);
}

type TemplatePart = string | { name: string; level: number };
const templateParts = parsedOnce((template): readonly TemplatePart[] =>
  template
    .split(/\{(\w+)\}/)
    .map((text, i) => (i % 2 === 0 ? text : { name: text, level: Number(text) }))
    .filter((part) => part !== ""),
);

function at(value: unknown, path: string): unknown {
  let node = value;
  for (const part of pathParts(path)) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

const pathParts = parsedOnce((path): readonly string[] => path.split("."));

/** Event time in ms from a field's value, or undefined when it is not one. */
export function parseTime(raw: unknown, format: TimeFormat): number | undefined {
  if (format === "iso8601") {
    if (typeof raw !== "string") return undefined;
    const ms = Date.parse(raw);
    return Number.isFinite(ms) ? ms : undefined;
  }
  const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return undefined;
  return Math.floor(format === "s" ? n * 1000 : n);
}

/**
 * A message decoded by every source whose topic filter matches it: one message can carry
 * several values, each picked by its own source. Empty when no source matches.
 */
export function decodeBySources<S extends SourcePlan & { topic: string }>(
  sources: readonly S[],
  topic: string,
  payload: Buffer,
  arrivalMs: number,
): { source: S; decoded: Decoded }[] {
  const out: { source: S; decoded: Decoded }[] = [];
  for (const source of sources)
    if (topicMatches(source.topic, topic))
      out.push({ source, decoded: decodePayload(source, topic, payload, arrivalMs) });
  return out;
}

export function decodePayload(
  plan: SourcePlan,
  topic: string,
  payload: Buffer,
  arrivalMs: number,
): Decoded {
  switch (plan.format) {
    case "json":
      return decodeJson(plan, topic, payload, arrivalMs);
    case "senml":
      return decodeSenml(plan, topic, payload, arrivalMs);
    case "number":
      return decodeNumber(plan, topic, payload, arrivalMs);
    case "influx":
      return decodeInflux(plan, topic, payload, arrivalMs);
  }
}

const scaled = (plan: SourcePlan, v: number) =>
  plan.factor === 1 && plan.offset === 0 ? v : v * plan.factor + plan.offset;

function dead(reason: FormatDeadLetter["reason"], detail: string): Decoded {
  return { readings: [], dead: [{ reason, detail }] };
}

/** The dead letter of a topic that lacks a level the sensor template names. */
function misfit(plan: SourcePlan, topic: string): FormatDeadLetter {
  return { reason: "bad_sensor", detail: `topic ${topic} does not fit "${plan.sensor}"` };
}

const NOT_JSON: unique symbol = Symbol("not JSON");

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString("utf8"));
  } catch {
    return NOT_JSON;
  }
}

function decodeJson(plan: SourcePlan, topic: string, payload: Buffer, arrivalMs: number): Decoded {
  const parsed = parseJson(payload);
  if (parsed === NOT_JSON) return dead("bad_payload", "not JSON");
  const items = Array.isArray(parsed) ? parsed : [parsed];
  const out: Decoded = { readings: [], dead: [] };
  const topicSensor =
    plan.sensorPath === undefined ? sensorFromTopic(plan.sensor, topic) : undefined;
  for (const item of items) {
    if (item === null || typeof item !== "object") {
      out.dead.push({ reason: "bad_payload", detail: "a reading must be a JSON object" });
      continue;
    }
    const value = at(item, plan.valuePath);
    if (typeof value !== "number" || !Number.isFinite(value)) {
      out.dead.push({
        reason: "bad_value",
        detail: `${plan.valuePath} must be a finite number, got ${JSON.stringify(value)}`,
      });
      continue;
    }
    let ts = arrivalMs;
    if (plan.timePath !== undefined) {
      const raw = at(item, plan.timePath);
      if (raw !== undefined) {
        const parsedTs = parseTime(raw, plan.timeFormat);
        if (parsedTs === undefined) {
          out.dead.push({
            reason: "bad_ts",
            detail: `${plan.timePath} is not a time (${plan.timeFormat}): ${JSON.stringify(raw)}`,
          });
          continue;
        }
        ts = parsedTs;
      }
    }
    const sensor = plan.sensorPath === undefined ? topicSensor : at(item, plan.sensorPath);
    if (typeof sensor !== "string" || sensor === "") {
      out.dead.push(
        plan.sensorPath === undefined
          ? misfit(plan, topic)
          : { reason: "bad_sensor", detail: `${plan.sensorPath} must be a string` },
      );
      continue;
    }
    const reading: Reading = { sensor, ts, value: scaled(plan, value) };
    const tagNames = Object.keys(plan.tagPaths);
    if (tagNames.length > 0) {
      const tags: Record<string, string> = {};
      for (const name of tagNames) {
        const t = at(item, plan.tagPaths[name] as string);
        if (typeof t === "string" || typeof t === "number" || typeof t === "boolean")
          tags[name] = String(t);
      }
      reading.tags = tags;
    }
    out.readings.push(reading);
  }
  return out;
}

function decodeNumber(
  plan: SourcePlan,
  topic: string,
  payload: Buffer,
  arrivalMs: number,
): Decoded {
  const text = payload.toString("utf8").trim();
  const value = text === "" ? Number.NaN : Number(text);
  if (!Number.isFinite(value))
    return dead("bad_value", `not a number: ${JSON.stringify(text.slice(0, 40))}`);
  const sensor = sensorFromTopic(plan.sensor, topic);
  if (sensor === undefined) return { readings: [], dead: [misfit(plan, topic)] };
  return { readings: [{ sensor, ts: arrivalMs, value: scaled(plan, value) }], dead: [] };
}

/** RFC 8428 §4: base name, time, value and unit apply to the records after them; times are in seconds. */
function decodeSenml(plan: SourcePlan, topic: string, payload: Buffer, arrivalMs: number): Decoded {
  const parsed = parseJson(payload);
  if (parsed === NOT_JSON) return dead("bad_payload", "not JSON");
  if (!Array.isArray(parsed)) return dead("bad_payload", "SenML is a JSON array of records");
  const out: Decoded = { readings: [], dead: [] };
  let bn = "";
  let bt = 0;
  let bv = 0;
  for (const rec of parsed as Record<string, unknown>[]) {
    if (rec === null || typeof rec !== "object") {
      out.dead.push({ reason: "bad_payload", detail: "a SenML record must be an object" });
      continue;
    }
    if (typeof rec.bn === "string") bn = rec.bn;
    if (typeof rec.bt === "number") bt = rec.bt;
    if (typeof rec.bv === "number") bv = rec.bv;
    if (rec.v === undefined && rec.s === undefined) {
      if (rec.vs !== undefined || rec.vb !== undefined || rec.vd !== undefined) {
        out.dead.push({
          reason: "bad_value",
          detail: `${bn}${String(rec.n ?? "")}: not a numeric value`,
        });
      }
      continue; // a record of base fields only
    }
    const v = typeof rec.v === "number" ? rec.v : (rec.s as number);
    if (typeof v !== "number" || !Number.isFinite(v)) {
      out.dead.push({
        reason: "bad_value",
        detail: `${bn}${String(rec.n ?? "")}: v must be a number`,
      });
      continue;
    }
    const name = `${bn}${typeof rec.n === "string" ? rec.n : ""}`;
    if (name === "") {
      out.dead.push({ reason: "bad_sensor", detail: "a SenML record needs a name (bn + n)" });
      continue;
    }
    const sensor = sensorFromTopic(plan.sensor, topic, { name });
    if (sensor === undefined) {
      out.dead.push(misfit(plan, topic));
      continue;
    }
    const t = bt + (typeof rec.t === "number" ? rec.t : 0);
    // Times below 2^28 s are relative to now (RFC 8428 §4.5.3).
    const ts = t === 0 ? arrivalMs : t < 2 ** 28 ? arrivalMs + t * 1000 : Math.floor(t * 1000);
    out.readings.push({ sensor, ts, value: scaled(plan, bv + v) });
  }
  return out;
}

/**
 * InfluxDB line protocol: `measurement[,tag=v…] field=v[,field=v…] [timestamp]`, one
 * reading per numeric field (sensor id `{measurement}/{field}` by default), tags kept, nanosecond
 * timestamps (absent ⇒ arrival time). String and boolean fields are skipped; a message
 * without a single line (empty, or comments only) is a dead letter.
 */
function decodeInflux(
  plan: SourcePlan,
  topic: string,
  payload: Buffer,
  arrivalMs: number,
): Decoded {
  const out: Decoded = { readings: [], dead: [] };
  let lines = 0;
  for (const raw of payload.toString("utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    lines++;
    const parts = splitUnescaped(line, " ");
    if (parts.length < 2 || parts.length > 3) {
      out.dead.push({
        reason: "bad_payload",
        detail: `not line protocol: ${JSON.stringify(line.slice(0, 60))}`,
      });
      continue;
    }
    const [head, fieldSet, stamp] = parts as [string, string, string | undefined];
    const [measurement, ...tagPairs] = splitUnescaped(head, ",");
    const tags: Record<string, string> = {};
    for (const pair of tagPairs) {
      const [k, v] = splitUnescaped(pair, "=");
      if (k !== undefined && v !== undefined) tags[unescapeInflux(k)] = unescapeInflux(v);
    }
    let ts = arrivalMs;
    if (stamp !== undefined) {
      if (!/^-?\d+$/.test(stamp)) {
        out.dead.push({
          reason: "bad_ts",
          detail: `timestamp must be integer nanoseconds: ${stamp}`,
        });
        continue;
      }
      ts = Number(BigInt(stamp) / 1_000_000n);
    }
    for (const field of splitUnescaped(fieldSet, ",")) {
      const [k, v] = splitUnescaped(field, "=");
      if (k === undefined || v === undefined) {
        out.dead.push({ reason: "bad_payload", detail: `bad field: ${field}` });
        continue;
      }
      if (v.startsWith('"') || /^(t|T|true|True|TRUE|f|F|false|False|FALSE)$/.test(v)) continue; // not numeric
      const value = Number(v.replace(/[iu]$/, ""));
      if (!Number.isFinite(value)) {
        out.dead.push({ reason: "bad_value", detail: `${k}=${v} is not a number` });
        continue;
      }
      const sensor = sensorFromTopic(plan.sensor, topic, {
        measurement: unescapeInflux(measurement ?? ""),
        field: unescapeInflux(k),
      });
      if (sensor === undefined) {
        out.dead.push(misfit(plan, topic));
        continue;
      }
      const reading: Reading = { sensor, ts, value: scaled(plan, value) };
      if (Object.keys(tags).length > 0) reading.tags = { ...tags };
      out.readings.push(reading);
    }
  }
  // A message of no lines at all (empty, or comments only) still counts as one undecodable.
  if (lines === 0)
    out.dead.push({ reason: "bad_payload", detail: "no line protocol in the message" });
  return out;
}

/** Splits on `sep` where it is not escaped with a backslash nor inside double quotes. */
function splitUnescaped(text: string, sep: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "\\" && i + 1 < text.length) {
      current += c + (text[i + 1] as string);
      i++;
    } else if (c === '"') {
      quoted = !quoted;
      current += c;
    } else if (c === sep && !quoted) {
      out.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  out.push(current);
  return out;
}

function unescapeInflux(text: string): string {
  return text.replace(/\\([ ,=\\"])/g, "$1");
}
