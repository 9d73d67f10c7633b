/** The agent's decoding of what the simulators publish: a source per payload format. */
import type { SourcePlan } from "../../agent/ingest/common.js";
import { DEFAULT_SOURCE } from "../../agent/ingest/decode.js";
import { DEFAULT_SENSOR } from "../../rules/defaults.js";
import type { PayloadFormat } from "../../simulators/scenario-schema.js";

/** The source a rules file would declare for each format, with the format's default sensor id. */
export function sourceFor(format: PayloadFormat): SourcePlan {
  // senml and influx with the rules' own default sensor id; json and number read the topic.
  const sensor = { ...DEFAULT_SENSOR, json: "{1}/{2}", number: "{1}/{2}" };
  return { ...DEFAULT_SOURCE, format, sensor: sensor[format] };
}
