/** `number`: a plain-text number; the time is the arrival time. */
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

export function numberDecoder(plan: SourcePlan): Decoder {
  const sensorOf = sensorTemplate(plan.sensor);
  const scale = scaler(plan);
  return (topic, payload, arrivalMs, sink) => {
    const text = payload.toString("utf8").trim();
    const number = text === "" ? Number.NaN : Number(text);
    if (!Number.isFinite(number)) {
      sink.dead("bad_value", `not a number: ${describe(text)}`);
      return;
    }
    const value = scale(number);
    if (!isReadingValue(value)) {
      sink.dead("bad_value", valueProblem(value));
      return;
    }
    const sensor = sensorOf(topic);
    if (sensor === undefined) sink.dead("bad_sensor", misfit(plan, topic));
    else sink.reading({ sensor, ts: arrivalMs, value });
  };
}
