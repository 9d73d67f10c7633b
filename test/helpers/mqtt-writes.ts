/** For the tests of the patches to mqtt-packet's writeToStream (lib/mqtt-packet-patches.ts). */
import { deepStrictEqual } from "node:assert/strict";
import { Writable } from "node:stream";
import fc from "fast-check";
import mqttPacket, { generate, type Packet } from "mqtt-packet";

/** Resolves after the current turn of the event loop (and its ticks). */
export const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** mqtt-packet's writeToStream, looked up at each call as aedes and mqtt.js do. */
export const writePacket = (packet: Packet, stream: Writable, opts?: object) =>
  mqttPacket.writeToStream(packet, stream, opts);

/** A stream that keeps every chunk written to it. */
export function collector(highWaterMark = 16 * 1024) {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { stream, chunks };
}

/**
 * Any sequence of `packet`s, written to two streams over any turns, reaches each stream as
 * the bytes mqtt-packet generates for them, in the order written (fast-check, 300 cases).
 */
export function writesAsGenerated(packet: fc.Arbitrary<Packet>): Promise<void> {
  return fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ packet, stream: fc.nat(1), turnEnds: fc.boolean() }), {
        maxLength: 30,
      }),
      async (writes) => {
        const streams = [collector(), collector()];
        for (const w of writes) {
          writePacket(w.packet, (streams[w.stream] as ReturnType<typeof collector>).stream);
          if (w.turnEnds) await nextTurn();
        }
        await nextTurn();
        streams.forEach(({ chunks }, i) => {
          const expected = writes.filter((w) => w.stream === i).map((w) => generate(w.packet));
          deepStrictEqual(Buffer.concat(chunks), Buffer.concat(expected));
        });
      },
    ),
    { seed: 22, numRuns: 300 },
  );
}

/** QoS 0 and 1 PUBLISHes of the given topics, payloads and packet ids, any flags. */
export function qos01Publishes(
  topic: fc.Arbitrary<string>,
  payload: fc.Arbitrary<Buffer | string>,
  messageId: fc.Arbitrary<number>,
): fc.Arbitrary<Packet> {
  return fc
    .record({
      topic,
      payload,
      qos: fc.constantFrom(0, 1),
      retain: fc.boolean(),
      dup: fc.boolean(),
      messageId,
    })
    .map((p): Packet => ({ cmd: "publish", ...p, qos: p.qos as 0 | 1 }));
}
