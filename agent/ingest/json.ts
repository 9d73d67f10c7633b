/** `json`: one reading object, or an array of them, read by dotted field paths. */
import type { Reading } from "../engine/types.js";
import {
  type Decoder,
  type DecodeSink,
  describe,
  fieldGetter,
  isReadingValue,
  misfit,
  NOT_JSON,
  notJson,
  parseJson,
  parseTime,
  type SourcePlan,
  scaler,
  sensorTemplate,
  valueProblem,
} from "./common.js";

export function jsonDecoder(plan: SourcePlan): Decoder {
  const valueAt = fieldGetter(plan.valuePath);
  const timePath = plan.timePath;
  const timeOf = timePath === undefined ? undefined : fieldGetter(timePath);
  const sensorPath = plan.sensorPath;
  const sensorOf = sensorPath === undefined ? undefined : fieldGetter(sensorPath);
  const topicSensor = sensorTemplate(plan.sensor);
  const tags = Object.entries(plan.tagPaths).map(
    ([name, path]) => [name, fieldGetter(path)] as const,
  );
  const scale = scaler(plan);

  /** `fromTopic`: the sensor id the topic gives, when no field gives it. */
  const one = (
    item: unknown,
    fromTopic: string | undefined,
    topic: string,
    arrivalMs: number,
    sink: DecodeSink,
  ): void => {
    if (item === null || typeof item !== "object") {
      sink.dead("bad_payload", "a reading must be a JSON object");
      return;
    }
    const raw = valueAt(item);
    const value = typeof raw === "number" ? scale(raw) : raw;
    if (!isReadingValue(value)) {
      sink.dead("bad_value", `${plan.valuePath} ${valueProblem(value)}`);
      return;
    }
    let ts = arrivalMs;
    const rawTs = timeOf?.(item);
    if (rawTs !== undefined) {
      const parsed = parseTime(rawTs, plan.timeFormat);
      if (parsed === undefined) {
        sink.dead("bad_ts", `${timePath} is not a time (${plan.timeFormat}): ${describe(rawTs)}`);
        return;
      }
      ts = parsed;
    }
    const sensor = sensorOf === undefined ? fromTopic : sensorOf(item);
    if (typeof sensor !== "string" || sensor === "") {
      sink.dead(
        "bad_sensor",
        sensorOf === undefined ? misfit(plan, topic) : `${sensorPath} must be a string`,
      );
      return;
    }
    const reading: Reading = { sensor, ts, value };
    if (tags.length > 0) {
      const found: Record<string, string> = {};
      for (const [name, tagOf] of tags) {
        const t = tagOf(item);
        if (typeof t === "string" || typeof t === "number" || typeof t === "boolean")
          found[name] = String(t);
      }
      reading.tags = found;
    }
    sink.reading(reading);
  };

  return (topic, payload, arrivalMs, sink) => {
    const parsed = parseJson(payload);
    if (parsed === NOT_JSON) {
      sink.dead("bad_payload", notJson(payload));
      return;
    }
    const fromTopic = sensorOf === undefined ? topicSensor(topic) : undefined;
    if (!Array.isArray(parsed)) one(parsed, fromTopic, topic, arrivalMs, sink);
    else for (const item of parsed) one(item, fromTopic, topic, arrivalMs, sink);
  };
}
