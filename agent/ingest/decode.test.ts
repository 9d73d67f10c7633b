import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeJsonReading } from "./decode.js";

const decode = (topic: string, payload: string) =>
  decodeJsonReading(topic, Buffer.from(payload), 777);

describe("decodeJsonReading", () => {
  it("decodes a reading and keys it by <device>/<sensor>", () => {
    deepStrictEqual(decode("sensors/pump-1/temp", '{"ts": 1000, "value": 21.5}'), {
      ok: true,
      reading: { sensor: "pump-1/temp", ts: 1000, value: 21.5 },
    });
  });

  it("uses the arrival time when ts is absent", () => {
    deepStrictEqual(decode("sensors/p/t", '{"value": 1}'), {
      ok: true,
      reading: { sensor: "p/t", ts: 777, value: 1 },
    });
  });

  const bad: [string, string, string][] = [
    ["sensors/p/t", "not json", "bad_json"],
    ["sensors/p/t", "42", "bad_json"],
    ["sensors/p/t", "null", "bad_json"],
    ["sensors/p/t", '{"ts": 1}', "bad_value"],
    ["sensors/p/t", '{"ts": 1, "value": "7"}', "bad_value"],
    ["sensors/p/t", '{"ts": "yesterday", "value": 7}', "bad_ts"],
    ["sensors/p/t", '{"ts": -5, "value": 7}', "bad_ts"],
    ["other/p/t", '{"value": 7}', "bad_topic"],
    ["sensors/p", '{"value": 7}', "bad_topic"],
  ];
  for (const [topic, payload, reason] of bad) {
    it(`turns ${JSON.stringify(payload)} on ${topic} into a ${reason} dead letter`, () => {
      const decoded = decode(topic, payload);
      deepStrictEqual(decoded.ok ? "ok" : decoded.dead.reason, reason);
    });
  }
});
