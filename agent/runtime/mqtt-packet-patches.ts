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
 *   state and one debug call at a time (mqtt-packet-patches.test.ts).
 */
import { writeToStream } from "mqtt-packet";

/** mqtt-packet's own switch (`cacheNumbers`), for every user of it in this process. */
export function writeWithoutNumberCache(): void {
  writeToStream.cacheNumbers = false;
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
