/**
 * parsePublishesDirectly (mqtt-packet-patches.ts): the PUBLISHes it parses itself come out as
 * mqtt-packet's parser gives them, whatever the packets around them and wherever the input
 * is cut; and the embedded broker's connections use it. writeAcknowledgementsTogether: the
 * bytes written are mqtt-packet's, in order, a turn's PUBACKs to a connection in one Buffer;
 * and the embedded broker writes its PUBACKs through it.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { once } from "node:events";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import fc from "fast-check";
import mqttPacket, { generate, type Packet, parser } from "mqtt-packet";
import {
  parsePublishesDirectly,
  writeAcknowledgementsTogether,
} from "../../lib/mqtt-packet-patches.js";
import {
  collector,
  nextTurn,
  qos01Publishes,
  writePacket,
  writesAsGenerated,
} from "../../test/helpers/mqtt-writes.js";
import { stopAfterAll } from "../../test/helpers/process.js";
import { rawMqttClient } from "../../test/helpers/raw-mqtt.js";
import { publishInProcess } from "./aedes-patches.js";
import { startEmbeddedBroker } from "./broker.js";

/** What a parser emitted, comparable: each packet's own fields (payload as hex), each error's message. */
function run(chunks: readonly Buffer[], direct: boolean) {
  const p = parser({ protocolVersion: 4 });
  if (direct) parsePublishesDirectly({ _parser: p });
  const seen: unknown[] = [];
  let directly = 0;
  p.on("packet", (packet: Packet) => {
    if (packet.constructor.name === "PublishPacket") directly++;
    const fields: Record<string, unknown> = { ...packet };
    if (Buffer.isBuffer(fields.payload)) fields.payload = fields.payload.toString("hex");
    seen.push(fields);
  });
  p.on("error", (err: Error) => seen.push(`error: ${err.message}`));
  for (const chunk of chunks) p.parse(chunk);
  return { seen, directly };
}

const topic = fc.string({ unit: "binary", maxLength: 40 });
const payload = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const messageId = fc.integer({ min: 1, max: 65_535 });
const qos01Publish = qos01Publishes(topic, payload, messageId).map((p) => generate(p));
const anyPacket = fc.oneof(
  { weight: 6, arbitrary: qos01Publish },
  fc
    .record({ topic, payload, messageId })
    .map((p) => generate({ cmd: "publish", ...p, qos: 2, retain: false, dup: false })),
  messageId.map((id) => generate({ cmd: "puback", messageId: id })),
  fc.constant(generate({ cmd: "pingreq" })),
  fc.record({ topic: topic.filter((t) => t.length > 0), messageId }).map((s) =>
    generate({
      cmd: "subscribe",
      messageId: s.messageId,
      subscriptions: [{ topic: s.topic, qos: 1 }],
    }),
  ),
  // malformed: a QoS 3 PUBLISH, lengths of five bytes, a topic longer than its packet, junk
  fc.constant(Buffer.from([0x36, 2, 0, 0])),
  fc.constant(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])),
  fc.constant(Buffer.from([0x30, 0x82, 0x80, 0x80, 0x80, 0x00, 0, 0])),
  fc.constant(Buffer.from([0x30, 3, 0, 9, 0x61])),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.from(a)),
);

/** `bytes` cut at `cuts` (offsets, any order, repeats allowed). */
function cut(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const to of [...at, bytes.length]) {
    chunks.push(bytes.subarray(from, to));
    from = to;
  }
  return chunks;
}

describe("parsing PUBLISHes directly", () => {
  const stops = stopAfterAll();

  it("gives the packets and errors mqtt-packet's parser gives, for any packets cut anywhere", () => {
    fc.assert(
      fc.property(
        fc.array(anyPacket, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (packets, cuts) => {
          const chunks = cut(Buffer.concat(packets), cuts);
          deepStrictEqual(run(chunks, true).seen, run(chunks, false).seen);
        },
      ),
      { seed: 22, numRuns: 2_000 },
    );
  });

  it("takes whole QoS 0 and 1 PUBLISHes itself, and leaves the rest of a read, from the first other byte, to mqtt-packet", () => {
    const publishes = [0, 1, 0].map((qos, i) =>
      generate({
        cmd: "publish",
        topic: `s/${i}`,
        payload: `${i}`,
        qos: qos as 0 | 1,
        retain: false,
        dup: false,
        messageId: 7,
      }),
    );
    const rest = [generate({ cmd: "pingreq" }), publishes[0] as Buffer];
    const { seen, directly } = run([Buffer.concat([...publishes, ...rest])], true);
    strictEqual(seen.length, 5);
    strictEqual(directly, 3);
  });

  it("completes a PUBLISH cut off by the end of a read with the next read, up to 4 KiB; a larger one goes to mqtt-packet whole", () => {
    const reading = (i: number, bytes = 100) =>
      generate({
        cmd: "publish",
        topic: `sensors/d/${i}`,
        payload: Buffer.alloc(bytes, 48 + (i % 10)),
        qos: (i % 2) as 0 | 1,
        retain: false,
        dup: false,
        messageId: i + 1,
      });
    const inSlices = (bytes: Buffer) =>
      cut(
        bytes,
        Array.from({ length: 200 }, (_, i) => (i + 1) * 1024),
      );
    const small = inSlices(Buffer.concat(Array.from({ length: 20 }, (_, i) => reading(i))));
    const direct = run(small, true);
    deepStrictEqual(direct.seen, run(small, false).seen);
    strictEqual(direct.directly, 20);

    const large = inSlices(
      Buffer.concat([reading(0, 100_000), reading(1), reading(2, 5_000), reading(3), reading(4)]),
    );
    const afterLarge = run(large, true);
    deepStrictEqual(afterLarge.seen, run(large, false).seen);
    strictEqual(afterLarge.seen.length, 5);
    // A 5 KB reading, cut off by the first read's end, is left to mqtt-packet, not carried.
    const over = inSlices(Buffer.concat([reading(0, 5_000), reading(1)]));
    const overCarried = run(over, true);
    deepStrictEqual(overCarried.seen, run(over, false).seen);
    strictEqual(overCarried.directly, 0);
  });

  it("the embedded broker's connections use it: readings in one write reach authorizePublish whole", async () => {
    const taken: { kind: string; topic: string; payload: string; messageId?: number }[] = [];
    const broker = await startEmbeddedBroker("127.0.0.1", 0, "edge", (aedes) => {
      aedes.authorizePublish = (_client, packet, callback) => {
        taken.push({
          kind: packet.constructor.name,
          topic: packet.topic,
          payload: packet.payload.toString(),
          ...(packet.qos === 1 ? { messageId: packet.messageId } : {}),
        });
        callback(null);
      };
    });
    stops.push(() => broker.close());
    const sensor = await rawMqttClient(broker.port, "direct-sensor", stops);
    sensor.write(
      Buffer.concat([
        generate({
          cmd: "publish",
          topic: "s/t",
          payload: "21.5",
          qos: 0,
          retain: false,
          dup: false,
        }),
        generate({
          cmd: "publish",
          topic: "s/h",
          payload: "64",
          qos: 1,
          messageId: 9,
          retain: false,
          dup: false,
        }),
      ]),
    );
    const [puback] = (await new Promise((resolve) => sensor.once("data", (d) => resolve([d])))) as [
      Buffer,
    ];
    deepStrictEqual([...puback], [0x40, 2, 0, 9], "PUBACK of message 9");
    deepStrictEqual(taken, [
      { kind: "PublishPacket", topic: "s/t", payload: "21.5" },
      { kind: "PublishPacket", topic: "s/h", payload: "64", messageId: 9 },
    ]);
  });
});

/** A stream that keeps each Buffer written to it (`highWaterMark` bytes before it asks for 'drain'). */

describe("writing PUBACKs together", () => {
  const stops = stopAfterAll();
  writeAcknowledgementsTogether();
  const write = writePacket;

  it("writes the bytes mqtt-packet generates, in the order written, to each stream, for any packets written in any turns", async () => {
    const packet = fc.oneof(
      { weight: 4, arbitrary: messageId.map((id): Packet => ({ cmd: "puback", messageId: id })) },
      fc
        .record({ topic: topic.filter((t) => t.length > 0), payload, messageId })
        .map((p): Packet => ({ cmd: "publish", ...p, qos: 1, retain: false, dup: false })),
      fc.constant<Packet>({ cmd: "pingresp" }),
      messageId.map((id): Packet => ({ cmd: "suback", messageId: id, granted: [1] })),
    );
    await writesAsGenerated(packet);
  });

  it("writes a turn's PUBACKs to a stream as one Buffer; leaves an MQTT 5 one to mqtt-packet; returns true, as mqtt-packet does, also to a full stream", async () => {
    const { stream, chunks } = collector();
    for (let id = 1; id <= 50; id++)
      strictEqual(write({ cmd: "puback", messageId: id }, stream), true);
    strictEqual(chunks.length, 0, "none before the end of the turn");
    await nextTurn();
    strictEqual(chunks.length, 1);
    strictEqual(chunks[0]?.length, 200);

    const v5 = collector();
    write({ cmd: "puback", messageId: 7, reasonCode: 16 }, v5.stream, { protocolVersion: 5 });
    await nextTurn();
    deepStrictEqual(
      Buffer.concat(v5.chunks),
      generate({ cmd: "puback", messageId: 7, reasonCode: 16 }, { protocolVersion: 5 }),
    );

    // A stream whose buffer is full: mqtt-packet's PUBACK returns true all the same, and
    // aedes and mqtt.js would wait for 'drain' on false, stalling a publisher's input on its
    // own unread output.
    const full = new Writable({ highWaterMark: 4, write: () => undefined });
    full.write(Buffer.alloc(8));
    strictEqual(write({ cmd: "puback", messageId: 1 }, full), true);
  });

  it("a stream that throws as its PUBACKs are written is destroyed, one ended is left alone, and the others' PUBACKs still go", async () => {
    const throwing = new Writable({ write: (_c, _e, done) => done() });
    throwing.write = () => {
      throw new Error("broken stream");
    };
    const ended = collector();
    const fine = collector();
    write({ cmd: "puback", messageId: 1 }, throwing);
    write({ cmd: "puback", messageId: 2 }, ended.stream);
    write({ cmd: "puback", messageId: 3 }, fine.stream);
    ended.stream.end();
    const destroyed = new Promise<Error>((resolve) => throwing.on("error", resolve));
    await nextTurn();
    strictEqual((await destroyed).message, "broken stream");
    strictEqual(throwing.destroyed, true);
    deepStrictEqual(ended.chunks, []);
    deepStrictEqual(Buffer.concat(fine.chunks), generate({ cmd: "puback", messageId: 3 }));
    // The next turn's PUBACKs go as before.
    write({ cmd: "puback", messageId: 4 }, fine.stream);
    await nextTurn();
    deepStrictEqual(
      Buffer.concat(fine.chunks),
      Buffer.concat([3, 4].map((id) => generate({ cmd: "puback", messageId: id }))),
    );
  });

  it("a publisher that also subscribes and stops reading still has all its QoS 1 readings taken", {
    timeout: 30_000,
  }, async () => {
    const readings = 5_000;
    let taken = 0;
    let allTaken: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      allTaken = resolve;
    });
    const broker = await startEmbeddedBroker("127.0.0.1", 0, "edge", (aedes) => {
      aedes.authorizePublish = (_client, packet, callback) => {
        if (packet.topic.startsWith("r/") && ++taken === readings) allTaken();
        callback(null);
      };
    });
    stops.push(() => broker.close());
    const client = await rawMqttClient(broker.port, "publishes-and-subscribes", stops);
    client.write(
      generate({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "alerts/#", qos: 0 }] }),
    );
    await once(client, "data"); // SUBACK
    client.pause();
    // 32 MiB it does not read: the broker's connection to it waits for 'drain' from here on.
    publishInProcess(broker.aedes, "alerts/big", Buffer.alloc(32 * 1024 * 1024), 0, () => {});
    const clients = (
      broker.aedes as unknown as { clients: Record<string, { conn: Writable } | undefined> }
    ).clients;
    while (clients["publishes-and-subscribes"]?.conn.writableNeedDrain !== true) await nextTurn();
    client.write(
      Buffer.concat(
        Array.from({ length: readings }, (_, i) =>
          generate({
            cmd: "publish",
            topic: `r/${i}`,
            payload: "1",
            qos: 1,
            messageId: (i % 65_535) + 1,
            retain: false,
            dup: false,
          }),
        ),
      ),
    );
    await done;
    strictEqual(taken, readings);
  });

  it("the embedded broker's PUBACKs go through it: twenty QoS 1 readings in one write are acknowledged in one write", async () => {
    const broker = await startEmbeddedBroker("127.0.0.1", 0, "edge", (aedes) => {
      aedes.authorizePublish = (_client, _packet, callback) => callback(null);
    });
    stops.push(() => broker.close());
    // What aedes relies on: it looks writeToStream up on mqtt-packet's exports at each write.
    const exports = mqttPacket as { writeToStream: typeof mqttPacket.writeToStream };
    const patched = exports.writeToStream;
    let pubacks = 0;
    const counting = (packet: Packet, stream: Writable, opts?: object) => {
      if (packet.cmd === "puback") pubacks++;
      return patched(packet, stream, opts);
    };
    exports.writeToStream = Object.assign(counting, { cacheNumbers: false }) as typeof patched;
    stops.push(async () => {
      exports.writeToStream = patched;
    });
    const sensor = await rawMqttClient(broker.port, "acked-sensor", stops);
    const ids = Array.from({ length: 20 }, (_, i) => 100 + i);
    sensor.write(
      Buffer.concat(
        ids.map((id) =>
          generate({
            cmd: "publish",
            topic: "s/t",
            payload: `${id}`,
            qos: 1,
            messageId: id,
            retain: false,
            dup: false,
          }),
        ),
      ),
    );
    const [acks] = (await new Promise((resolve) => sensor.once("data", (d) => resolve([d])))) as [
      Buffer,
    ];
    deepStrictEqual(
      acks,
      Buffer.concat(ids.map((id) => generate({ cmd: "puback", messageId: id }))),
    );
    strictEqual(pubacks, 20);
  });
});
