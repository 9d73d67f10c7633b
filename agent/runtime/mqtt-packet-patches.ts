/**
 * Brook's patches to mqtt-packet, which parses and writes the embedded broker's packets
 * (CONVENTIONS.md 14; no upstream issue: both are costs of its general design on a device
 * that takes thousands of small PUBLISHes a second). Each leaves alone a parser whose
 * layout it does not recognise (another mqtt-packet version), and has a test that fails
 * when an upgrade changes what it relies on:
 * - writeWithoutNumberCache: mqtt-packet fills a cache of 65,536 two-byte Buffers at the
 *   first packet written (6.3 MB of heap on a 64-bit Node, held for good); a packet id is
 *   written as a new 2-byte Buffer instead (broker.test.ts);
 * - parsePublishesDirectly: mqtt-packet parses every packet through a BufferList (bl), one
 *   state and one debug call at a time (mqtt-packet-patches.test.ts);
 * - writeAcknowledgementsTogether: mqtt-packet writes a PUBACK as three Buffers, with five
 *   debug calls and a cork of the socket each; the PUBACKs of one turn go out as one Buffer
 *   per connection instead (mqtt-packet-patches.test.ts).
 */
import mqttPacket, { writeToStream } from "mqtt-packet";

/** mqtt-packet's own switch (`cacheNumbers`), for every user of it in this process. */
export function writeWithoutNumberCache(): void {
  writeToStream.cacheNumbers = false;
}

type WriteToStream = typeof writeToStream;
/** What a PUBACK is written to: a socket (aedes' connections, mqtt.js' streams). */
interface AckStream {
  write(chunk: Buffer): boolean;
  destroy(err?: Error): void;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
}

/** Connections with PUBACKs waiting for the end of this turn, and their packet ids in order. */
const waitingAcks = new Map<AckStream, number[]>();
const PATCHED = Symbol("brook.acknowledgementsTogether");

/**
 * Writes the PUBACKs waiting for `stream`, as one Buffer, in the order they were written. A
 * stream that throws is destroyed (its peer sends again what was not acknowledged), as
 * one that cannot be written to would be; the other connections' PUBACKs still go. One
 * destroyed or ended before the end of the turn gets none (mqtt-packet's cork would have
 * let an `end()` in the same turn flush them; aedes destroys its connections, and mqtt.js
 * ends its stream a turn after its DISCONNECT, whose write sends them first).
 */
function writeWaitingAcks(stream: AckStream, ids: number[]): void {
  waitingAcks.delete(stream);
  if (stream.destroyed || stream.writableEnded) return;
  const bytes = Buffer.allocUnsafe(4 * ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    bytes[4 * i] = 0x40; // PUBACK
    bytes[4 * i + 1] = 2;
    bytes[4 * i + 2] = id >> 8;
    bytes[4 * i + 3] = id & 0xff;
  }
  try {
    stream.write(bytes);
  } catch (err) {
    stream.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

function writeAllWaitingAcks(): void {
  // Taken out first: a PUBACK queued while these are written waits for its own tick.
  const all = [...waitingAcks];
  waitingAcks.clear();
  for (const [stream, ids] of all) writeWaitingAcks(stream, ids);
}

/**
 * A broker that takes thousands of QoS 1 PUBLISHes a second writes as many PUBACKs: through
 * mqtt-packet each is three Buffers (header, length, packet id) with five debug calls and a
 * cork of the socket until the next tick, and a whole commit's PUBACKs to a publisher (the
 * reading log releases them together) reach the socket as dozens of Buffers in one writev;
 * writing them so cost about a tenth of the agent's CPU at 40,000 QoS 1 readings/s
 * (docs/BENCHMARKS.md). Here an MQTT 3.1/3.1.1 PUBACK (a v5 one, which may carry a reason
 * code and properties, is left to mqtt-packet) waits for the end of the turn, and each
 * connection's PUBACKs of the turn go out as one Buffer, the same bytes in the same order: any other packet to the same stream
 * first writes the PUBACKs before it. It returns true, as mqtt-packet does for a PUBACK
 * whatever the stream's buffer: aedes and mqtt.js wait for 'drain' on false, and a
 * publisher that stops reading must not stop its own input being taken (aedes-patches.ts).
 * For every user of mqtt-packet in this process (aedes, mqtt.js); a second call changes
 * nothing.
 */
export function writeAcknowledgementsTogether(): void {
  const exports = mqttPacket as unknown as { writeToStream: WriteToStream };
  const original = exports.writeToStream;
  if ((original as unknown as Record<symbol, boolean>)[PATCHED]) return;
  const patched = ((packet, stream, opts) => {
    const s = stream as unknown as AckStream;
    const waiting = waitingAcks.get(s);
    const id = (packet as { messageId?: unknown }).messageId;
    if (
      packet.cmd === "puback" &&
      (opts as { protocolVersion?: number } | undefined)?.protocolVersion !== 5 &&
      typeof id === "number" &&
      Number.isInteger(id) &&
      id >= 0 &&
      id <= 0xffff
    ) {
      if (waiting !== undefined) waiting.push(id);
      else {
        if (waitingAcks.size === 0) process.nextTick(writeAllWaitingAcks);
        waitingAcks.set(s, [id]);
      }
      return true;
    }
    if (waiting !== undefined) writeWaitingAcks(s, waiting);
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
