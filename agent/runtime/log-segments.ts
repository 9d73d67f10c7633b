/**
 * The reading log's files: append-only segments in `<dataDir>/log/`, each a run of
 * checksummed records. A record is written whole by one write of its batch and is
 * believed only if its length and CRC-32 check out, so a write torn by a crash or a power
 * cut ends the log there (what follows it was never acknowledged). Segments roll at each
 * checkpoint; those wholly behind the checkpoint are deleted.
 *
 * Record: u32 body length, u32 checksum, body:
 *   u8 kind (1 message, 2 tick), f64 processing time (ms since the epoch), and for a message
 *   f64 the time event times were judged against, u8 qos | dup << 2, u16 message id, u16
 *   client id bytes, u16 topic bytes, u32 payload bytes, then the client id, the topic and
 *   the payload.
 * The checksum is CRC-32 over the body; for a message, over its topic and payload first and
 * then the rest, so the topic-and-payload CRC it starts from is the message's content
 * checksum too (the redeliveries' memory uses it: one pass over the bytes, not two).
 */
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { crc32Range } from "./crc32.js";

/** A message as the edge broker gave it, with what replay and redelivery checks need. */
export interface LoggedMessage {
  readonly kind: "message";
  /** processing time when it was taken in, ms since the epoch (lib/clock.ts now) */
  readonly at: number;
  /** the time its event time was judged against then (lib/clock.ts eventNow) */
  readonly eventAt: number;
  readonly qos: number;
  readonly dup: boolean;
  /** the publisher's MQTT client id ("" for none) and its packet id (0 for none) */
  readonly client: string;
  readonly mid: number;
  readonly topic: string;
  readonly payload: Buffer;
}

/** Processing time moved on (the engine's tick): replayed so idle flushes come out the same. */
export interface LoggedTick {
  readonly kind: "tick";
  readonly at: number;
}

export type LogRecord = LoggedMessage | LoggedTick;

/** Where the log stands: a segment and a byte offset in it. */
export interface LogPosition {
  readonly segment: number;
  readonly offset: number;
}

const HEADER = 8;
const KIND_MESSAGE = 1;
const KIND_TICK = 2;
const MESSAGE_FIXED = 1 + 8 + 8 + 1 + 2 + 2 + 2 + 4;
const TICK_BYTES = 1 + 8;
/** Larger than any real record: a length beyond it is corruption, not a record. */
const MAX_RECORD = 512 * 1024 * 1024;

const segmentName = (n: number) => `${String(n).padStart(16, "0")}.seg`;

/** The file of segment `n` in `dir`. */
export function segmentPath(dir: string, n: number): string {
  return join(dir, segmentName(n));
}

/** Renames segment `n` so that it is no segment any more (kept for a look); returns its new name. */
export function moveSegmentAside(dir: string, n: number): string {
  const aside = `${segmentName(n)}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  renameSync(join(dir, segmentName(n)), join(dir, aside));
  return join(dir, aside);
}

/** The segment numbers in `dir`, ascending. */
export function listSegments(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d{16}\.seg$/.test(n))
    .map((n) => Number(n.slice(0, 16)))
    .sort((a, b) => a - b);
}

/** Appends records to the current segment; `commit` makes what was appended durable. */
export class SegmentWriter {
  private fd: number;
  private segmentNo: number;
  /** bytes of the current segment already committed */
  private committedBytes: number;
  private buffer = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  /** a failed commit left bytes it could not cut off at the end of the current segment */
  private tornTail = false;

  /** Opens a new segment after every one in `dir` (a torn tail in an old one stays behind it). */
  constructor(
    private readonly dir: string,
    private readonly sync: boolean,
  ) {
    mkdirSync(dir, { recursive: true });
    this.segmentNo = (listSegments(dir).at(-1) ?? 0) + 1;
    this.fd = this.open(this.segmentNo);
    this.committedBytes = 0;
  }

  get position(): LogPosition {
    return { segment: this.segmentNo, offset: this.committedBytes };
  }

  /** bytes appended and not yet committed */
  get pendingBytes(): number {
    return this.used;
  }

  /** Appends a message; returns the CRC-32 of its topic and payload (its content checksum). */
  appendMessage(m: Omit<LoggedMessage, "kind">): number {
    const clientBytes = Buffer.byteLength(m.client);
    const topicBytes = Buffer.byteLength(m.topic);
    const body = MESSAGE_FIXED + clientBytes + topicBytes + m.payload.length;
    const b = this.reserve(HEADER + body);
    let o = b + HEADER;
    const buf = this.buffer;
    buf[o++] = KIND_MESSAGE;
    buf.writeDoubleLE(m.at, o);
    buf.writeDoubleLE(m.eventAt, o + 8);
    o += 16;
    buf[o++] = (m.qos & 3) | (m.dup ? 4 : 0);
    buf.writeUInt16LE(m.mid & 0xffff, o);
    buf.writeUInt16LE(clientBytes, o + 2);
    buf.writeUInt16LE(topicBytes, o + 4);
    buf.writeUInt32LE(m.payload.length, o + 6);
    o += 10;
    o += buf.write(m.client, o, "utf8");
    const content = o;
    o += buf.write(m.topic, o, "utf8");
    m.payload.copy(buf, o);
    const end = b + HEADER + body;
    const sum = crc32Range(buf, content, end);
    buf.writeUInt32LE(body, b);
    buf.writeUInt32LE(crc32Range(buf, b + HEADER, content, sum), b + 4);
    this.lastBytes = HEADER + body;
    return sum;
  }

  /** The bytes of the record appended last. */
  lastBytes = 0;

  appendTick(at: number): void {
    const b = this.reserve(HEADER + TICK_BYTES);
    this.buffer[b + HEADER] = KIND_TICK;
    this.buffer.writeDoubleLE(at, b + HEADER + 1);
    this.buffer.writeUInt32LE(TICK_BYTES, b);
    this.buffer.writeUInt32LE(crc32Range(this.buffer, b + HEADER, b + HEADER + TICK_BYTES), b + 4);
    this.lastBytes = HEADER + TICK_BYTES;
  }

  /**
   * Writes what was appended (and syncs it, with `sync`). On a failure nothing of it is
   * kept in the file (a partial write is cut off), it stays appended, and the error is thrown.
   */
  commit(beforeWrite?: (bytes: Buffer) => void): void {
    if (this.used === 0) return;
    // A failed write whose tail could not be cut off: records after it would not be read
    // back (replay stops at the torn one), so they go to a new segment.
    if (this.tornTail) this.roll();
    const bytes = this.buffer.subarray(0, this.used);
    beforeWrite?.(bytes);
    try {
      let written = 0;
      while (written < bytes.length)
        written += writeSync(this.fd, bytes, written, bytes.length - written);
      if (this.sync) fdatasyncSync(this.fd);
    } catch (err) {
      try {
        ftruncateSync(this.fd, this.committedBytes);
      } catch {
        // The torn tail stays; its checksum makes replay stop there: the next commit starts
        // a new segment.
        this.tornTail = true;
      }
      throw err;
    }
    this.committedBytes += this.used;
    this.used = 0;
    if (this.buffer.length > 1024 * 1024) this.buffer = Buffer.allocUnsafe(64 * 1024);
  }

  /** Writes the first half of what was appended, and no more (agent/runtime/faults.ts). */
  writeTorn(): void {
    writeSync(this.fd, this.buffer, 0, Math.ceil(this.used / 2));
  }

  /** Starts a new segment (what was appended and not committed moves with it); returns where it starts. */
  roll(): LogPosition {
    const fd = this.open(this.segmentNo + 1); // first: a failure leaves the current one in use
    closeSync(this.fd);
    this.fd = fd;
    this.segmentNo++;
    this.committedBytes = 0;
    this.tornTail = false;
    return this.position;
  }

  /** Deletes every segment before `segment`. */
  deleteBefore(segment: number): void {
    for (const n of listSegments(this.dir))
      if (n < segment) rmSync(join(this.dir, segmentName(n)), { force: true });
  }

  close(): void {
    closeSync(this.fd);
  }

  private open(n: number): number {
    const fd = openSync(join(this.dir, segmentName(n)), "a");
    if (this.sync) syncDir(this.dir);
    return fd;
  }

  private reserve(bytes: number): number {
    if (this.used + bytes > this.buffer.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + bytes));
      this.buffer.copy(next, 0, 0, this.used);
      this.buffer = next;
    }
    const at = this.used;
    this.used += bytes;
    return at;
  }
}

/** A new file's name must survive a power cut too: its directory is synced. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems cannot sync a directory; the file's own sync is what they offer.
  }
}

/** What reading the log found after the records it returned. */
export interface ReadEnd {
  /** records read */
  records: number;
  /** the first segment read; 1 is the log's first ever (none has been truncated away) */
  firstSegment: number | undefined;
  /** where reading stopped in each segment that it stopped before its end, in order */
  stops: LogStop[];
}

/** Where reading a segment stopped, and the bytes of it left unread. */
export type LogStop = LogPosition & { bytesLeft: number; reason: "torn" | "corrupt" };

/** Bytes read from a segment at a time: replay holds this much of the log, not a whole segment. */
const READ_CHUNK = 1024 * 1024;

/**
 * Calls `each` for every record from `from` on, in order. Reading a segment stops at a
 * record whose length or checksum is wrong (a torn tail, or corruption), and goes on with
 * the next segment: each later segment was started by a later run, after this one ended.
 */
export function readLog(
  dir: string,
  from: LogPosition,
  each: (record: LogRecord) => void,
): ReadEnd {
  const end: ReadEnd = { records: 0, firstSegment: undefined, stops: [] };
  let data = Buffer.allocUnsafe(READ_CHUNK);
  for (const n of listSegments(dir)) {
    if (n < from.segment) continue;
    end.firstSegment ??= n;
    const fd = openSync(join(dir, segmentName(n)), "r");
    try {
      let fileAt = n === from.segment ? from.offset : 0; // of data[0]
      let have = 0;
      let o = 0;
      let eof = false;
      for (;;) {
        const record = decodeAt(data, o, have);
        if (record === "short" && !eof) {
          // Keep the partial record, make room for a large one, read on.
          data.copy(data, 0, o, have);
          fileAt += o;
          have -= o;
          o = 0;
          const need = have >= HEADER ? HEADER + data.readUInt32LE(0) : HEADER;
          if (need > data.length && need <= MAX_RECORD + HEADER) {
            const bigger = Buffer.allocUnsafe(need);
            data.copy(bigger, 0, 0, have);
            data = bigger;
          }
          const got = readSync(fd, data, have, data.length - have, fileAt + have);
          if (got === 0) eof = true;
          have += got;
          continue;
        }
        if (record === "short" || record === "bad") {
          if (have > o || record === "bad")
            end.stops.push({
              segment: n,
              offset: fileAt + o,
              bytesLeft: fstatSync(fd).size - (fileAt + o),
              reason: record === "short" ? "torn" : "corrupt",
            });
          break;
        }
        each(record.record);
        end.records++;
        o = record.next;
      }
    } finally {
      closeSync(fd);
    }
  }
  return end;
}

/** The record at `o` of the first `have` bytes; "short" when they end inside it, "bad" when it does not check out. */
function decodeAt(
  data: Buffer,
  o: number,
  have: number,
): { record: LogRecord; next: number } | "short" | "bad" {
  if (o + HEADER > have) return "short";
  const body = data.readUInt32LE(o);
  if (body > MAX_RECORD) return "bad";
  if (o + HEADER + body > have) return "short";
  const b = o + HEADER;
  const kind = data[b];
  const next = b + body;
  const sum = data.readUInt32LE(o + 4);
  if (kind === KIND_TICK && body === TICK_BYTES) {
    if (crc32(data.subarray(b, next)) !== sum) return "bad";
    return { record: { kind: "tick", at: data.readDoubleLE(b + 1) }, next };
  }
  if (kind !== KIND_MESSAGE || body < MESSAGE_FIXED) return "bad";
  const content = b + MESSAGE_FIXED + data.readUInt16LE(b + 20);
  if (
    content > next ||
    crc32(data.subarray(b, content), crc32(data.subarray(content, next))) !== sum
  )
    return "bad";
  const at = data.readDoubleLE(b + 1);
  const eventAt = data.readDoubleLE(b + 9);
  const flags = data[b + 17] as number;
  const mid = data.readUInt16LE(b + 18);
  const clientBytes = data.readUInt16LE(b + 20);
  const topicBytes = data.readUInt16LE(b + 22);
  const payloadBytes = data.readUInt32LE(b + 24);
  const c = b + MESSAGE_FIXED;
  if (MESSAGE_FIXED + clientBytes + topicBytes + payloadBytes !== body) return "bad";
  return {
    record: {
      kind: "message",
      at,
      eventAt,
      qos: flags & 3,
      dup: (flags & 4) !== 0,
      mid,
      client: data.toString("utf8", c, c + clientBytes),
      topic: data.toString("utf8", c + clientBytes, c + clientBytes + topicBytes),
      // A copy: the file's buffer is not kept alive by a reading that outlives the replay.
      payload: Buffer.from(data.subarray(c + clientBytes + topicBytes, next)),
    },
    next,
  };
}
