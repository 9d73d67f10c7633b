/**
 * A message from the edge broker decoded by the source(s) whose topic filter matches it,
 * each with its format's decoder (one file per format beside this one). Without sources in
 * the rules file, one default source reads JSON `{"ts", "value"}` on
 * `sensors/<device>/<sensor>` with the sensor id `<device>/<sensor>`.
 */
import { DEFAULT_INGEST_TOPIC } from "../../rules/defaults.js";
import { topicMatches } from "../../rules/topic.js";
import type { CompiledSource } from "../compile/plan.js";
import type { Decoded, Decoder, SourcePlan } from "./common.js";
import { influxDecoder } from "./influx.js";
import { jsonDecoder } from "./json.js";
import { numberDecoder } from "./number.js";
import { senmlDecoder } from "./senml.js";

/** The source of a rules file that names none. */
export const DEFAULT_SOURCE: CompiledSource = Object.freeze({
  name: "sensors",
  topic: DEFAULT_INGEST_TOPIC,
  format: "json",
  sensor: "{1}/{2}",
  valuePath: "value",
  timePath: "ts",
  sensorPath: undefined,
  tagPaths: Object.freeze({}),
  timeFormat: "ms",
  factor: 1,
  offset: 0,
});

/** The decoder of a source's format, its paths and templates compiled once. */
export function decoderFor(plan: SourcePlan): Decoder {
  switch (plan.format) {
    case "json":
      return jsonDecoder(plan);
    case "senml":
      return senmlDecoder(plan);
    case "number":
      return numberDecoder(plan);
    case "influx":
      return influxDecoder(plan);
  }
}

/** One message decoded by one source, collected (tests and tools; the agent uses a sink). */
export function decodePayload(
  plan: SourcePlan,
  topic: string,
  payload: Buffer,
  arrivalMs: number,
): Decoded {
  const decoded: Decoded = { readings: [], dead: [] };
  decoderFor(plan)(topic, payload, arrivalMs, {
    reading: (r) => decoded.readings.push(r),
    dead: (reason, detail) => decoded.dead.push({ reason, detail }),
  });
  return decoded;
}

/**
 * A message decoded by every source whose topic filter matches it, collected: one message
 * can carry several values, each picked by its own source. Empty when no source matches.
 */
export function decodeBySources<S extends SourcePlan & { topic: string }>(
  sources: readonly S[],
  topic: string,
  payload: Buffer,
  arrivalMs: number,
): { source: S; decoded: Decoded }[] {
  return sources
    .filter((source) => topicMatches(source.topic, topic))
    .map((source) => ({ source, decoded: decodePayload(source, topic, payload, arrivalMs) }));
}
