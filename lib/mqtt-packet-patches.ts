/**
 * Brook's patches to mqtt-packet, which parses and writes the embedded broker's packets and
 * the simulator's (CONVENTIONS.md 14; no upstream issue: all are costs of its general design
 * on a device that takes, or a simulator that sends, thousands of small PUBLISHes a second). Each leaves alone a parser whose
 * layout it does not recognise (another mqtt-packet version), and has a test that fails
 * when an upgrade changes what it relies on:
 * - writeWithoutNumberCache: mqtt-packet fills a cache of 65,536 two-byte Buffers at the
 *   first packet written (6.3 MB of heap on a 64-bit Node, held for good); a packet id is
 *   written as a new 2-byte Buffer instead (broker.test.ts);
 * - parsePublishesDirectly: mqtt-packet parses every packet through a BufferList (bl), one
 *   state and one debug call at a time (mqtt-packet-patches.test.ts);
 * - writeAcknowledgementsTogether: mqtt-packet writes a PUBACK as three Buffers, with five
 *   debug calls and a cork of the socket each; the PUBACKs of one turn go out as one Buffer
 *   per connection instead (mqtt-packet-patches.test.ts);
 * - writePublishesTogether: the same for a publisher's small QoS 0 and 1 PUBLISHes, in the
 *   simulator's process (mqtt-packet-patches.test.ts).
 * In lib/, as both the agent's broker (agent/runtime) and the simulator (simulators/) use
 * them; the tests are in agent/runtime/mqtt-packet-patches.test.ts, beside the broker's.
 */
import mqttPacket, { writeToStream } from "mqtt-packet";

/** mqtt-packet's own switch (`cacheNumbers`), for every user of it in this process. */
export function writeWithoutNumberCache(): void {
  writeToStream.cacheNumbers = false;
}

type WriteToStream = typeof writeToStream;
/** What packets are written to: a socket (aedes' connections, mqtt.js' streams). */
interface OutStream {
  write(chunk: Buffer): boolean;
  destroy(err?: Error): void;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableNeedDrain?: boolean;
  readonly writableLength?: number;
  readonly writableHighWaterMark?: number;
  cork?(): void;
  uncork?(): void;
}

/** A PUBLISH waiting for the end of the turn: its bytes are made when it is written. */
interface WaitingPublish {
  /** the fixed header's first byte */
  readonly first: number;
  readonly topic: string;
  readonly topicBytes: number;
  /** QoS 1 only */
  readonly messageId: number;
  readonly payload: Buffer | string;
  /** the remaining length */
  readonly rest: number;
}
/** A packet waiting for the end of the turn: a PUBACK (its packet id) or a PUBLISH. */
type Waiting = number | WaitingPublish;

/** Which packets wait for the end of the turn: each switched on by its function below. */
const together = { acknowledgements: false, publishes: false };
/** Connections with packets waiting for the end of this turn, in the order written. */
const waitingPackets = new Map<OutStream, WaitingFor>();
/** What waits for one stream: its packets, their bytes, whether a write of them said false. */
interface WaitingFor {
  packets: Waiting[];
  /** the bytes the packets will be written as (the flush's Buffer) */
  bytes: number;
  saidFalse: boolean;
}
const PATCHED = Symbol("brook.packetsTogether");
/** A larger PUBLISH is left to mqtt-packet (which writes its payload without copying it). */
const MAX_TOGETHER_BYTES = 64 * 1024;

/** The bytes of a variable byte integer (the remaining length). */
const lengthBytes = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);

/**
 * Writes the packets waiting for `stream`, as one Buffer, in the order they were written. A
 * stream that throws is destroyed (its peer sends again what was not acknowledged), as
 * one that cannot be written to would be; the other connections' packets still go. One
 * destroyed or ended before the end of the turn gets none (mqtt-packet's cork would have
 * let an `end()` in the same turn flush them; aedes destroys its connections, and mqtt.js
 * ends its stream a turn after its DISCONNECT, whose write sends them first).
 */
function writeWaiting(stream: OutStream, waiting: WaitingFor): void {
  const { packets } = waiting;
  waitingPackets.delete(stream);
  if (stream.destroyed || stream.writableEnded) return;
  const bytes = Buffer.allocUnsafe(waiting.bytes);
  let at = 0;
  for (const p of packets) {
    if (typeof p === "number") {
      bytes[at] = 0x40; // PUBACK
      bytes[at + 1] = 2;
      bytes[at + 2] = p >> 8;
      bytes[at + 3] = p & 0xff;
      at += 4;
      continue;
    }
    bytes[at++] = p.first;
    let rest = p.rest;
    do {
      bytes[at++] = (rest & 0x7f) | (rest >= 0x80 ? 0x80 : 0);
      rest >>>= 7;
    } while (rest > 0);
    at = bytes.writeUInt16BE(p.topicBytes, at);
    at += bytes.write(p.topic, at, "utf8");
    if ((p.first & 6) !== 0) at = bytes.writeUInt16BE(p.messageId, at);
    at +=
      typeof p.payload === "string"
        ? bytes.write(p.payload, at, "utf8")
        : p.payload.copy(bytes, at);
  }
  try {
    // A PUBLISH told its writer the stream was full: written corked, as mqtt-packet writes,
    // so that the stream counts it against its high-water mark and emits the 'drain' the
    // writer waits for (a socket's write that completes at once would say true, and none
    // would come).
    const corked = waiting.saidFalse && stream.cork !== undefined && stream.uncork !== undefined;
    if (corked) stream.cork?.();
    stream.write(bytes);
    if (corked) process.nextTick(() => stream.uncork?.());
  } catch (err) {
    try {
      stream.destroy(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // a stream that cannot even be destroyed: the other connections' packets still go
    }
  }
}

function writeAllWaiting(): void {
  // Taken out first: a packet queued while these are written waits for its own tick.
  const all = [...waitingPackets];
  waitingPackets.clear();
  for (const [stream, waiting] of all) writeWaiting(stream, waiting);
}

/** Queues `packet` (of `bytes` bytes) for `stream`; returns what now waits for it. */
function wait(stream: OutStream, packet: Waiting, bytes: number): WaitingFor {
  const waiting = waitingPackets.get(stream);
  if (waiting !== undefined) {
    waiting.packets.push(packet);
    waiting.bytes += bytes;
    return waiting;
  }
  if (waitingPackets.size === 0) process.nextTick(writeAllWaiting);
  const first = { packets: [packet], bytes, saidFalse: false };
  waitingPackets.set(stream, first);
  return first;
}

const isPacketId = (id: unknown): id is number =>
  typeof id === "number" && Number.isInteger(id) && id >= 0 && id <= 0xffff;

/**
 * An MQTT 3.1/3.1.1 QoS 0 or 1 PUBLISH of a string topic and a Buffer or string payload, of
 * up to MAX_TOGETHER_BYTES, as it will be written; undefined for any other (mqtt-packet
 * writes it, or refuses it, as before).
 */
function waitingPublish(packet: Record<string, unknown>): WaitingPublish | undefined {
  const { topic, payload, qos, messageId } = packet;
  if ((qos !== 0 && qos !== 1) || typeof topic !== "string" || topic.length === 0) return;
  if (typeof payload !== "string" && !Buffer.isBuffer(payload)) return;
  if (qos === 1 && !isPacketId(messageId)) return;
  const topicBytes = Buffer.byteLength(topic);
  const payloadBytes = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
  const rest = 2 + topicBytes + 2 * qos + payloadBytes;
  if (topicBytes > 0xffff || rest > MAX_TOGETHER_BYTES) return;
  return {
    // Flags by truthiness, as mqtt-packet takes them (a JavaScript caller's `retain: 1`).
    first: 0x30 | (packet.dup ? 8 : 0) | (qos << 1) | (packet.retain ? 1 : 0),
    topic,
    topicBytes,
    messageId: qos === 1 ? (messageId as number) : 0,
    payload,
    rest,
  };
}

/**
 * mqtt-packet's writeToStream, patched once for every user of it in this process (aedes,
 * mqtt.js): the packets `together` names wait for the end of the turn, and each
 * connection's go out as one Buffer, the same bytes in the same order; any other packet to
 * the same stream first writes those waiting before it.
 */
function patchWriteToStream(): void {
  const exports = mqttPacket as unknown as { writeToStream: WriteToStream };
  const original = exports.writeToStream;
  if ((original as unknown as Record<symbol, boolean>)[PATCHED]) return;
  const patched = ((packet, stream, opts) => {
    const s = stream as unknown as OutStream;
    if ((opts as { protocolVersion?: number } | undefined)?.protocolVersion !== 5) {
      const fields = packet as unknown as Record<string, unknown>;
      if (together.acknowledgements && packet.cmd === "puback" && isPacketId(fields.messageId)) {
        wait(s, fields.messageId, 4);
        return true;
      }
      const publish =
        together.publishes && packet.cmd === "publish" ? waitingPublish(fields) : undefined;
      if (publish !== undefined) {
        const waiting = wait(s, publish, 1 + lengthBytes(publish.rest) + publish.rest);
        // False, as mqtt-packet's corked write would say, once the stream's buffer and what
        // waits for it reach its high-water mark; the flush is then corked (writeWaiting), so
        // the 'drain' a publisher waits for comes. A caller that never yields is held to about
        // a high-water mark of waiting bytes, not its whole backlog.
        const ok =
          s.writableNeedDrain !== true &&
          (s.writableLength ?? 0) + waiting.bytes < (s.writableHighWaterMark ?? 16 * 1024);
        if (!ok) waiting.saidFalse = true;
        return ok;
      }
    }
    const waiting = waitingPackets.get(s);
    if (waiting !== undefined) writeWaiting(s, waiting);
    return original(packet, stream, opts);
  }) as WriteToStream;
  // mqtt-packet reads its switch from its own function; mqtt.js sets it through the export.
  Object.defineProperty(patched, "cacheNumbers", {
    get: () => original.cacheNumbers,
    set: (on: boolean) => {
      original.cacheNumbers = on;
    },
  });
  (patched as unknown as Record<symbol, boolean>)[PATCHED] = true;
  exports.writeToStream = patched;
}

/**
 * A broker that takes thousands of QoS 1 PUBLISHes a second writes as many PUBACKs: through
 * mqtt-packet each is three Buffers (header, length, packet id) with five debug calls and a
 * cork of the socket until the next tick, and a whole commit's PUBACKs to a publisher (the
 * reading log releases them together) reach the socket as dozens of Buffers in one writev;
 * writing them so cost about a tenth of the agent's CPU at 40,000 QoS 1 readings/s
 * (docs/BENCHMARKS.md). Here an MQTT 3.1/3.1.1 PUBACK (a v5 one, which may carry a reason
 * code and properties, is left to mqtt-packet) waits for the end of the turn with the other
 * packets to its connection (patchWriteToStream). It returns true, as mqtt-packet does for a
 * PUBACK whatever the stream's buffer: aedes and mqtt.js wait for 'drain' on false, and a
 * publisher that stops reading must not stop its own input being taken (aedes-patches.ts).
 * A second call changes nothing.
 */
export function writeAcknowledgementsTogether(): void {
  together.acknowledgements = true;
  patchWriteToStream();
}

/**
 * A publisher of thousands of small readings a second (`brook sim`) writes each PUBLISH
 * through mqtt-packet as four or five Buffers with debug calls and a cork of the socket:
 * at 100,000 messages a second the writing and the kernel's handling of a writev of
 * hundreds of small Buffers took most of the simulator's CPU (docs/BENCHMARKS.md). Here an
 * MQTT 3.1/3.1.1 QoS 0 or 1 PUBLISH of up to 64 KiB waits for the end of the turn with the
 * other packets to its connection (patchWriteToStream), and returns, as mqtt-packet's
 * corked write does, false once the stream's buffer and the bytes waiting for it reach the
 * stream's high-water mark (mqtt.js then waits for 'drain' before it calls the publish
 * back). A PUBLISH is reported written when it is queued: a stream that throws at the end of
 * the turn is destroyed, and its peer has not acknowledged those at QoS 1. For the simulator's process, not the agent's
 * (which publishes few messages, and whose broker writes PUBLISHes to subscribers
 * through aedes' own accounting). A second call changes nothing.
 */
export function writePublishesTogether(): void {
  together.publishes = true;
  patchWriteToStream();
}

/** What parsePublishesDirectly needs of an aedes client's parser (mqtt-packet's Parser). */
interface PacketParser {
  parse(buf: Buffer): number;
  emit(event: "packet", packet: PublishPacket): boolean;
  /** input buffered for a packet not yet complete */
  _list: { length: number };
  /** 0 between packets */
  _stateCounter: number;
  error: unknown;
  settings: { protocolVersion?: number } | undefined;
}

/** A PUBLISH as mqtt-packet's parser gives it (its Packet's fields, in its order). */
class PublishPacket {
  readonly cmd = "publish";
  /** QoS 1 only: a QoS 0 packet has no such property, as from mqtt-packet */
  declare messageId?: number;
  constructor(
    readonly retain: boolean,
    readonly qos: 0 | 1,
    readonly dup: boolean,
    readonly length: number,
    readonly topic: string,
    readonly payload: Buffer,
  ) {}
}

/**
 * A PUBLISH cut off by the end of a read is kept for the next read up to this size (a
 * sensor's reading is far smaller); a larger one goes to mqtt-packet, whose BufferList does
 * not copy what it holds again at each read, as a carried packet's start is.
 */
const MAX_CARRIED_BYTES = 4 * 1024;

/**
 * A sensor's readings are QoS 0 and 1 PUBLISHes, which mqtt-packet's parser takes in a
 * byte at a time through a BufferList, with a debug call at every step: about a tenth of
 * the agent's CPU at 40,000 readings/s (docs/BENCHMARKS.md). Here, between two packets
 * (nothing buffered in mqtt-packet's parser, no error), the whole QoS 0 and 1 PUBLISHes at
 * the front of what was read are parsed straight from it and emitted as mqtt-packet emits
 * them (topic as UTF-8, payload a view of the input, as mqtt-packet's is when the packet
 * lies in one read). One cut off by the end of the read (up to MAX_CARRIED_BYTES) is kept
 * and completed by the next read. The first byte of anything else (another packet, QoS 2,
 * MQTT 5's properties, a larger packet cut off, a malformed one) goes to mqtt-packet's
 * parser with all after it, so it is parsed, or refused, as before. A client whose parser
 * is laid out otherwise (another mqtt-packet version) is left alone (and the test of this
 * fails).
 */
export function parsePublishesDirectly(client: unknown): void {
  const parser = (client as { _parser?: Partial<PacketParser> })._parser;
  if (
    parser === undefined ||
    typeof parser.parse !== "function" ||
    typeof parser.emit !== "function" ||
    typeof parser._list?.length !== "number" ||
    typeof parser._stateCounter !== "number"
  )
    return;
  const p = parser as PacketParser;
  const generic = p.parse.bind(p);
  /** the start of a PUBLISH the last read cut off (mqtt-packet's parser has nothing buffered then) */
  let carried: Buffer | undefined;
  p.parse = (input: Buffer): number => {
    if (p._list.length > 0 || p._stateCounter !== 0 || p.error || p.settings?.protocolVersion === 5)
      return generic(input);
    const buf = carried === undefined ? input : Buffer.concat([carried, input]);
    carried = undefined;
    const { taken, cut } = publishesAtFront(p, buf);
    if (taken === buf.length) return 0;
    const rest = taken === 0 ? buf : buf.subarray(taken);
    if (cut) {
      carried = rest;
      return rest.length;
    }
    return generic(rest);
  };
}

/**
 * The fixed header of a QoS 0 or 1 PUBLISH at `at`: where the rest of the packet starts
 * (`body`) and where the packet ends; "cut" when `buf` ends before its remaining length
 * does; undefined for anything else (another packet, QoS 2, a length of over four bytes).
 */
function publishAt(buf: Buffer, at: number): { body: number; end: number } | "cut" | undefined {
  const first = buf[at] as number;
  if (first >> 4 !== 3 || ((first >> 1) & 3) > 1) return undefined;
  // Remaining length: a variable byte integer of at most four bytes.
  let length = 0;
  let scale = 1;
  for (let p = at + 1; p <= at + 4; p++) {
    if (p >= buf.length) return "cut";
    const b = buf[p] as number;
    length += (b & 0x7f) * scale;
    scale *= 0x80;
    if ((b & 0x80) === 0) return { body: p + 1, end: p + 1 + length };
  }
  return undefined;
}

/**
 * Emits the whole QoS 0 and 1 PUBLISHes at the front of `buf`. `taken`: the bytes they
 * took; `cut`: what follows is such a PUBLISH of at most MAX_CARRIED_BYTES, cut off by the
 * end of `buf`.
 */
function publishesAtFront(parser: PacketParser, buf: Buffer): { taken: number; cut: boolean } {
  let at = 0;
  while (at < buf.length) {
    const header = publishAt(buf, at);
    if (header === "cut") return { taken: at, cut: true };
    if (header === undefined) break;
    const { body, end } = header;
    if (end > buf.length) return { taken: at, cut: end - at <= MAX_CARRIED_BYTES };
    if (end - body < 2) break;
    const first = buf[at] as number;
    const qos = ((first >> 1) & 3) as 0 | 1;
    const topicEnd = body + 2 + buf.readUInt16BE(body);
    const payloadAt = topicEnd + 2 * qos;
    if (payloadAt > end) break;
    const packet = new PublishPacket(
      (first & 1) !== 0,
      qos,
      (first & 8) !== 0,
      end - body,
      buf.toString("utf8", body + 2, topicEnd),
      buf.subarray(payloadAt, end),
    );
    if (qos === 1) packet.messageId = buf.readUInt16BE(topicEnd);
    at = end;
    parser.emit("packet", packet);
  }
  return { taken: at, cut: false };
}
