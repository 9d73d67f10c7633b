/**
 * writePublishesTogether (lib/mqtt-packet-patches.ts), as the simulator's process has it with
 * PUBACKs together too: the bytes written are mqtt-packet's, in order, a turn's packets to a
 * connection in one Buffer; it says when the stream is full; and an mqtt.js client's
 * PUBLISHes go through it. (A process of its own: once switched on, it stays on.)
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import { createServer, type Socket } from "node:net";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import fc from "fast-check";
import mqtt from "mqtt";
import { generate, type Packet, parser } from "mqtt-packet";
import {
  writeAcknowledgementsTogether,
  writePublishesTogether,
} from "../lib/mqtt-packet-patches.js";
import {
  collector,
  nextTurn,
  qos01Publishes,
  writePacket,
  writesAsGenerated,
} from "./helpers/mqtt-writes.js";
import { stopAfterAll } from "./helpers/process.js";

writePublishesTogether();
writeAcknowledgementsTogether();
const write = writePacket;

/** A TCP server on 127.0.0.1 that `onSocket` serves, and an mqtt.js client of it (not yet connected). */
async function clientOf(
  onSocket: (socket: Socket) => void,
  clientId: string,
  stops: (() => Promise<unknown>)[],
) {
  const server = createServer(onSocket);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  stops.push(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as { port: number };
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, reconnectPeriod: 0 });
  stops.push(() => client.endAsync(true));
  return client;
}

const topic = fc.string({ unit: "binary", minLength: 1, maxLength: 40 });
const messageId = fc.integer({ min: 0, max: 65_535 });
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.string({ unit: "binary", maxLength: 100 }),
  // over 64 KiB: left to mqtt-packet
  fc.constant(Buffer.alloc(70_000, 7)),
);

describe("writing PUBLISHes together", () => {
  const stops = stopAfterAll();

  it("writes the bytes mqtt-packet generates, in the order written, to each stream, for any packets written in any turns", async () => {
    const packet = fc.oneof(
      { weight: 5, arbitrary: qos01Publishes(topic, payload, messageId) },
      fc
        .record({ topic, payload, messageId })
        .map((p): Packet => ({ cmd: "publish", ...p, qos: 2, retain: false, dup: false })),
      messageId.map((id): Packet => ({ cmd: "puback", messageId: id })),
      fc.constant<Packet>({ cmd: "pingreq" }),
      messageId.map((id): Packet => ({ cmd: "suback", messageId: id, granted: [1] })),
    );
    await writesAsGenerated(packet);
  });

  it("writes a turn's PUBLISHes to a stream as one Buffer; leaves an MQTT 5 one to mqtt-packet; says when the stream is full", async () => {
    const { stream, chunks } = collector();
    const packets = Array.from(
      { length: 100 },
      (_, i): Packet => ({
        cmd: "publish",
        topic: `sensors/d${i}/temperature`,
        payload: `{"value":${i}}`,
        qos: (i % 2) as 0 | 1,
        messageId: i + 1,
        retain: false,
        dup: false,
      }),
    );
    for (const p of packets) strictEqual(write(p, stream), true);
    strictEqual(chunks.length, 0, "none before the end of the turn");
    await nextTurn();
    strictEqual(chunks.length, 1);
    deepStrictEqual(chunks[0], Buffer.concat(packets.map((p) => generate(p))));

    const v5 = collector();
    const p5: Packet = {
      cmd: "publish",
      topic: "t",
      payload: "x",
      qos: 0,
      retain: false,
      dup: false,
    };
    write(p5, v5.stream, { protocolVersion: 5 });
    await nextTurn();
    deepStrictEqual(Buffer.concat(v5.chunks), generate(p5, { protocolVersion: 5 }));

    // A full stream: false, as mqtt-packet's write says, so a publisher waits for 'drain'.
    const full = new Writable({ highWaterMark: 4, write: () => undefined });
    full.write(Buffer.alloc(8));
    strictEqual(write(packets[0] as Packet, full), false);

    // Flags as mqtt-packet reads them, by truthiness (a JavaScript caller's `retain: 1`).
    const loose = collector();
    const flagged = { ...packets[1], retain: 1, dup: "yes" } as unknown as Packet;
    write(flagged, loose.stream);
    await nextTurn();
    deepStrictEqual(Buffer.concat(loose.chunks), generate(flagged));
  });

  it("says false once what waits for a stream reaches its high-water mark, as a corked write would", async () => {
    const { stream, chunks } = collector(1_024);
    const packet: Packet = {
      cmd: "publish",
      topic: "s/t",
      payload: Buffer.alloc(93), // 100 bytes a packet
      qos: 0,
      retain: false,
      dup: false,
    };
    const answers = Array.from({ length: 12 }, () => write(packet, stream));
    deepStrictEqual(answers, [...Array(10).fill(true), false, false]);
    await nextTurn();
    strictEqual(Buffer.concat(chunks).length, 1_200);
  });

  it("an mqtt.js client's PUBLISHes of one turn reach its socket as one write, as mqtt-packet would write them", async () => {
    const client = await clientOf(
      (socket) => {
        socket.once("data", () => socket.write(Buffer.from([0x20, 2, 0, 0]))); // CONNACK
        socket.resume();
      },
      "together",
      stops,
    );
    await new Promise((resolve) => client.once("connect", resolve));
    const writes: Buffer[] = [];
    const stream = client.stream as unknown as Writable;
    const plain = stream.write.bind(stream) as (chunk: Buffer) => boolean;
    stream.write = ((chunk: Buffer) => {
      writes.push(chunk);
      return plain(chunk);
    }) as typeof stream.write;
    const expected: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      client.publish(`s/${i}`, `${i}`, { qos: 0 });
      expected.push(
        generate({
          cmd: "publish",
          topic: `s/${i}`,
          payload: `${i}`,
          qos: 0,
          retain: false,
          dup: false,
        }),
      );
    }
    await nextTurn();
    strictEqual(writes.length, 1);
    deepStrictEqual(writes[0], Buffer.concat(expected));

    // A caller that never yields a turn (awaiting each publish) still has its PUBLISHes
    // written as it goes, not held until it stops: mqtt.js waits for 'drain' on false.
    writes.length = 0;
    for (let i = 0; i < 5_000; i++) await client.publishAsync(`s/${i}`, "0123456789", { qos: 0 });
    ok(writes.length > 1, `${writes.length} writes during the loop`);
  });

  it("an mqtt.js client's QoS 0 PUBLISHes queued before its CONNACK all go once it comes", {
    timeout: 20_000,
  }, async () => {
    const messages = 20_000;
    let published = 0;
    const server = new EventEmitter();
    const client = await clientOf(
      (socket) => {
        const p = parser({ protocolVersion: 4 });
        p.on("packet", (packet: Packet) => {
          if (packet.cmd === "connect")
            server.emit("connect", () => socket.write(Buffer.from([0x20, 2, 0, 0])));
          if (packet.cmd === "publish" && ++published === messages) server.emit("all in");
        });
        socket.on("data", (d: Buffer) => p.parse(d));
      },
      "offline-queue",
      stops,
    );
    const connected = once(server, "connect") as Promise<[() => void]>;
    const allIn = once(server, "all in");
    // mqtt.js queues them until connected, then writes its queue one publish's callback
    // after another: a write that never says false would recurse through all of them.
    for (let i = 0; i < messages; i++) client.publish(`q/${i}`, "0123456789", { qos: 0 });
    const [connack] = await connected;
    connack(); // once all are queued
    await allIn;
    strictEqual(published, messages);
  });
});
