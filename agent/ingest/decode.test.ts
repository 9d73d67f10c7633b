import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_SOURCE, decodeBySources } from "./decode.js";

/** The default source's result, or the runtime's `bad_topic` when no source takes the topic. */
const decode = (topic: string, payload: string) => {
  const decodings = decodeBySources([DEFAULT_SOURCE], topic, Buffer.from(payload), 777);
  return decodings[0]?.decoded ?? { readings: [], dead: [{ reason: "bad_topic" }] };
};

describe("the default source: JSON on sensors/<device>/<sensor>", () => {
  it("decodes a reading and keys it by <device>/<sensor>", () => {
    deepStrictEqual(decode("sensors/pump-1/temp", '{"ts": 1000, "value": 21.5}'), {
      readings: [{ sensor: "pump-1/temp", ts: 1000, value: 21.5 }],
      dead: [],
    });
  });

  it("uses the arrival time when ts is absent", () => {
    deepStrictEqual(decode("sensors/p/t", '{"value": 1}').readings, [
      { sensor: "p/t", ts: 777, value: 1 },
    ]);
  });

  const bad: [string, string, string][] = [
    ["sensors/p/t", "not json", "bad_payload"],
    ["sensors/p/t", "42", "bad_payload"],
    ["sensors/p/t", "null", "bad_payload"],
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
      deepStrictEqual([decoded.readings.length, decoded.dead[0]?.reason], [0, reason]);
    });
  }
});
