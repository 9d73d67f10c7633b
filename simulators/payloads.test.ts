import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodePayload } from "../agent/ingest/decode.js";
import { sourceFor } from "../test/helpers/sources.js";
import { type Channel, encode, MALFORMED_VARIANTS, malformed } from "./payloads.js";
import { PAYLOAD_FORMATS } from "./scenario-schema.js";

const channel: Channel = {
  device: "device-07",
  sensor: "temperature",
  topic: "sensors/device-07/temperature",
  key: "device-07/temperature",
  decimals: 2,
  senmlUnit: "Cel",
};

const TS = 1_767_225_600_083;

describe("simulator payloads", () => {
  for (const format of PAYLOAD_FORMATS) {
    it(`${format}: decodes at the agent to <device>/<sensor>, its time and its rounded value`, () => {
      const decoded = decodePayload(
        sourceFor(format),
        channel.topic,
        Buffer.from(encode(format, channel, TS, 21.4567)),
        5,
      );
      assert.deepEqual(decoded.dead, []);
      assert.deepEqual(
        decoded.readings.map((r) => ({ sensor: r.sensor, ts: r.ts, value: r.value })),
        // A plain number carries no time: the agent stamps it on arrival (5 here).
        [{ sensor: "device-07/temperature", ts: format === "number" ? 5 : TS, value: 21.46 }],
      );
    });

    it(`${format}: an oversized payload still decodes to the same reading`, () => {
      const big = encode(format, channel, TS, 21.4567, 300_000);
      assert.ok(big.length > 300_000);
      const decoded = decodePayload(sourceFor(format), channel.topic, Buffer.from(big), 5);
      assert.deepEqual(decoded.dead, []);
      assert.equal(decoded.readings[0]?.value, 21.46);
    });

    for (const variant of MALFORMED_VARIANTS)
      it(`${format}: a malformed payload (${variant}) is a dead letter at the agent, never a reading`, () => {
        const payload = malformed(format, variant, channel, TS, 21.4567);
        const decoded = decodePayload(sourceFor(format), channel.topic, Buffer.from(payload), 5);
        assert.deepEqual(decoded.readings, []);
        assert.equal(
          decoded.dead.length,
          1,
          `${JSON.stringify(payload)} gave ${JSON.stringify(decoded)}`,
        );
      });
  }
});
