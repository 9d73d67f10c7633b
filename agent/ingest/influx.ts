import type { Reading } from "../engine/types.js";
import {
  type Decoder,
  describe,
  isReadingValue,
  misfit,
  type SourcePlan,
  scaler,
  sensorTemplate,
  valueProblem,
} from "./common.js";

/**
 * InfluxDB line protocol: `measurement[,tag=v…] field=v[,field=v…] [timestamp]`, one
 * reading per numeric field (sensor id `{measurement}/{field}` by default), tags kept, nanosecond
 * timestamps (absent ⇒ arrival time). String and boolean fields are skipped; a message
 * without a single line (empty, or comments only) is a dead letter.
 */
export function influxDecoder(plan: SourcePlan): Decoder {
  const sensorOf = sensorTemplate(plan.sensor);
  const scale = scaler(plan);
  return (topic, payload, arrivalMs, sink) => {
    let lines = 0;
    for (const raw of payload.toString("utf8").split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      lines++;
      const parts = splitUnescaped(line, " ");
      if (parts.length < 2 || parts.length > 3) {
        sink.dead("bad_payload", `not line protocol: ${describe(line.slice(0, 60))}`);
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
          sink.dead("bad_ts", `timestamp must be integer nanoseconds: ${stamp}`);
          continue;
        }
        ts = Number(BigInt(stamp) / 1_000_000n);
      }
      for (const field of splitUnescaped(fieldSet, ",")) {
        const [k, v] = splitUnescaped(field, "=");
        if (k === undefined || v === undefined) {
          sink.dead("bad_payload", `bad field: ${describe(field)}`);
          continue;
        }
        if (v.startsWith('"') || /^(t|T|true|True|TRUE|f|F|false|False|FALSE)$/.test(v)) continue; // not numeric
        const number = Number(v.replace(/[iu]$/, ""));
        if (!Number.isFinite(number)) {
          sink.dead("bad_value", `${k}=${describe(v)} is not a number`);
          continue;
        }
        const value = scale(number);
        if (!isReadingValue(value)) {
          sink.dead("bad_value", `${k}: ${valueProblem(value)}`);
          continue;
        }
        const sensor = sensorOf(topic, {
          measurement: unescapeInflux(measurement ?? ""),
          field: unescapeInflux(k),
        });
        if (sensor === undefined) {
          sink.dead("bad_sensor", misfit(plan, topic));
          continue;
        }
        const reading: Reading = { sensor, ts, value };
        if (Object.keys(tags).length > 0) reading.tags = { ...tags };
        sink.reading(reading);
      }
    }
    // A message of no lines at all (empty, or comments only) still counts as one undecodable.
    if (lines === 0) sink.dead("bad_payload", "no line protocol in the message");
  };
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
