/** `number`: a plain-text number; the time is the arrival time. */
import { type Decoder, misfit, type SourcePlan, scaler, sensorTemplate } from "./common.js";

export function numberDecoder(plan: SourcePlan): Decoder {
  const sensorOf = sensorTemplate(plan.sensor);
  const scale = scaler(plan);
  return (topic, payload, arrivalMs, sink) => {
    const text = payload.toString("utf8").trim();
    const value = text === "" ? Number.NaN : Number(text);
    if (!Number.isFinite(value)) {
      sink.dead("bad_value", `not a number: ${JSON.stringify(text.slice(0, 40))}`);
      return;
    }
    const sensor = sensorOf(topic);
    if (sensor === undefined) sink.dead("bad_sensor", misfit(plan, topic));
    else sink.reading({ sensor, ts: arrivalMs, value: scale(value) });
  };
}
