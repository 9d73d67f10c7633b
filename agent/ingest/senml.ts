/** `senml`: RFC 8428 SenML JSON records. */
import {
  type Decoder,
  isReadingValue,
  misfit,
  NOT_JSON,
  notJson,
  parseJson,
  type SourcePlan,
  scaler,
  sensorTemplate,
  valueProblem,
} from "./common.js";

/** RFC 8428 §4: base name, time, value and unit apply to the records after them; times are in seconds. */
export function senmlDecoder(plan: SourcePlan): Decoder {
  const sensorOf = sensorTemplate(plan.sensor);
  const scale = scaler(plan);
  return (topic, payload, arrivalMs, sink) => {
    const parsed = parseJson(payload);
    if (parsed === NOT_JSON) {
      sink.dead("bad_payload", notJson(payload));
      return;
    }
    if (!Array.isArray(parsed)) {
      sink.dead("bad_payload", "SenML is a JSON array of records");
      return;
    }
    let bn = "";
    let bt = 0;
    let bv = 0;
    for (const rec of parsed as Record<string, unknown>[]) {
      if (rec === null || typeof rec !== "object") {
        sink.dead("bad_payload", "a SenML record must be an object");
        continue;
      }
      if (typeof rec.bn === "string") bn = rec.bn;
      if (typeof rec.bt === "number") bt = rec.bt;
      if (typeof rec.bv === "number") bv = rec.bv;
      if (rec.v === undefined && rec.s === undefined) {
        if (rec.vs !== undefined || rec.vb !== undefined || rec.vd !== undefined) {
          sink.dead("bad_value", `${bn}${String(rec.n ?? "")}: not a numeric value`);
        }
        continue; // a record of base fields only
      }
      const v = typeof rec.v === "number" ? rec.v : (rec.s as number);
      const value = typeof v === "number" ? scale(bv + v) : v;
      if (!isReadingValue(value)) {
        sink.dead(
          "bad_value",
          `${bn}${String(rec.n ?? "")}: ${typeof v === "number" ? valueProblem(value) : "v must be a number"}`,
        );
        continue;
      }
      const name = `${bn}${typeof rec.n === "string" ? rec.n : ""}`;
      if (name === "") {
        sink.dead("bad_sensor", "a SenML record needs a name (bn + n)");
        continue;
      }
      const sensor = sensorOf(topic, { name });
      if (sensor === undefined) {
        sink.dead("bad_sensor", misfit(plan, topic));
        continue;
      }
      const t = bt + (typeof rec.t === "number" ? rec.t : 0);
      // Times below 2^28 s are relative to now (RFC 8428 §4.5.3).
      const ts = t === 0 ? arrivalMs : t < 2 ** 28 ? arrivalMs + t * 1000 : Math.floor(t * 1000);
      sink.reading({ sensor, ts, value });
    }
  };
}
