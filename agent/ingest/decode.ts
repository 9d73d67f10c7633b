/**
 * Decode one MQTT message into a Reading, or into a dead letter with a named reason.
 * Bad input is a value, never an exception (CONVENTIONS.md 9).
 *
 * Topic: `sensors/<device>/<sensor>`; the sensor id is `<device>/<sensor>`.
 * Payload: JSON `{"ts": <ms epoch>, "value": <number>}`; without `ts` the arrival time is used.
 */
import type { Reading } from "../engine/types.js";

export const INGEST_TOPIC = "sensors/+/+";

export type DeadLetterReason = "bad_topic" | "bad_json" | "bad_value" | "bad_ts";

export interface DeadLetter {
  reason: DeadLetterReason;
  topic: string;
  detail: string;
}

export type Decoded = { ok: true; reading: Reading } | { ok: false; dead: DeadLetter };

export function decodeJsonReading(topic: string, payload: Buffer, arrivalMs: number): Decoded {
  const slash = topic.indexOf("/");
  if (slash < 0 || topic.slice(0, slash) !== "sensors" || topic.indexOf("/", slash + 1) < 0) {
    return dead("bad_topic", topic, "expected sensors/<device>/<sensor>");
  }
  const sensor = topic.slice(slash + 1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString("utf8"));
  } catch {
    return dead("bad_json", topic, preview(payload));
  }
  if (parsed === null || typeof parsed !== "object")
    return dead("bad_json", topic, "not a JSON object");
  const { ts, value } = parsed as { ts?: unknown; value?: unknown };
  if (typeof value !== "number" || !Number.isFinite(value)) {
    return dead(
      "bad_value",
      topic,
      `"value" must be a finite number, got ${JSON.stringify(value)}`,
    );
  }
  if (ts !== undefined && (typeof ts !== "number" || !Number.isFinite(ts) || ts < 0)) {
    return dead(
      "bad_ts",
      topic,
      `"ts" must be milliseconds since the epoch, got ${JSON.stringify(ts)}`,
    );
  }
  return {
    ok: true,
    reading: { sensor, ts: ts === undefined ? arrivalMs : Math.floor(ts), value },
  };
}

function dead(reason: DeadLetterReason, topic: string, detail: string): Decoded {
  return { ok: false, dead: { reason, topic, detail } };
}

function preview(payload: Buffer): string {
  const text = payload.subarray(0, 60).toString("utf8");
  return `not JSON: ${JSON.stringify(text)}${payload.length > 60 ? "…" : ""}`;
}
