import { deepStrictEqual } from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { crc32Range } from "./crc32.js";
import { type LogRecord, listSegments, readLog, SegmentWriter } from "./log-segments.js";

const dir = () => mkdtempSync(join(tmpdir(), "brook-segments-"));
const message = (i: number, payload = Buffer.from(`{"ts":${i},"value":${i}}`)) =>
  ({
    at: 1_700_000_000_000 + i,
    eventAt: 1_700_000_000_000 + 2 * i,
    qos: i % 2,
    dup: i % 3 === 0,
    client: `sensor-${i % 4}`,
    mid: i % 65_536,
    topic: `sensors/d/s${i}`,
    payload,
  }) as const;

function readAll(d: string, from = { segment: 0, offset: 0 }) {
  const records: LogRecord[] = [];
  const end = readLog(d, from, (r) => records.push(r));
  return { records, end };
}

describe("reading log segments", () => {
  it("checksum a range of the append buffer as zlib's crc32 does a view of it, from any previous value", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(300),
        fc.nat(300),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (bytes, a, b, value) => {
          const from = Math.min(a, b, bytes.length);
          const to = Math.min(Math.max(a, b), bytes.length);
          // Inside a larger buffer, as in the log (zlib's crc32 of an empty view with no memory behind it is 0).
          const buffer = Buffer.alloc(bytes.length + 8);
          buffer.set(bytes, 4);
          deepStrictEqual(
            crc32Range(buffer, 4 + from, 4 + to, value),
            crc32(buffer.subarray(4 + from, 4 + to), value),
          );
        },
      ),
      { seed: 22, numRuns: 5_000 },
    );
  });

  it("give back every committed record in order, across segments, and delete those before a checkpoint", () => {
    const d = dir();
    const w = new SegmentWriter(d, false);
    w.appendMessage(message(1));
    w.appendTick(1_700_000_000_005);
    w.appendMessage({ ...message(2), payload: Buffer.alloc(0), topic: "ünï/cödé", client: "" });
    w.commit();
    const rolled = w.roll();
    w.appendMessage(message(3, Buffer.from([0, 255, 1, 254])));
    w.commit();
    w.close();
    const { records, end } = readAll(d);
    deepStrictEqual(records, [
      { kind: "message", ...message(1) },
      { kind: "tick", at: 1_700_000_000_005 },
      { kind: "message", ...message(2), payload: Buffer.alloc(0), topic: "ünï/cödé", client: "" },
      { kind: "message", ...message(3, Buffer.from([0, 255, 1, 254])) },
    ]);
    deepStrictEqual(end, { records: 4, firstSegment: 1, stops: [] });
    deepStrictEqual(readAll(d, rolled).records.length, 1);
    new SegmentWriter(d, false).deleteBefore(rolled.segment);
    deepStrictEqual(listSegments(d)[0], rolled.segment);
  });

  it("a record larger than a read chunk comes back whole", () => {
    const d = dir();
    const w = new SegmentWriter(d, false);
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0x61);
    w.appendMessage(message(1, big));
    w.appendMessage(message(2));
    w.commit();
    w.close();
    const { records } = readAll(d);
    deepStrictEqual(
      records.map((r) => (r.kind === "message" ? r.payload.length : -1)),
      [big.length, message(2).payload.length],
    );
  });

  it("a commit torn by a crash ends the segment at its last whole record; the next run's segment is read after it", () => {
    const d = dir();
    const w = new SegmentWriter(d, false);
    w.appendMessage(message(1));
    w.commit();
    w.appendMessage(message(2));
    w.appendMessage(message(3, Buffer.alloc(40, 0x62)));
    // Half of the second commit reaches the file (record 2 whole, record 3 cut), then the
    // process dies. Record 2 was never acknowledged, but it is on disk: it is replayed (its
    // publisher's redelivery is then recognised as one).
    w.writeTorn();
    const next = new SegmentWriter(d, false); // the next start
    next.appendMessage(message(4));
    next.commit();
    const { records, end } = readAll(d);
    deepStrictEqual(
      records.map((r) => (r.kind === "message" ? r.mid : -1)),
      [1, 2, 4],
    );
    deepStrictEqual(
      end.stops.map((s) => [s.reason, s.segment]),
      [["torn", 1]],
    );
  });

  it("a corrupt record stops its segment there and says so", () => {
    const d = dir();
    const w = new SegmentWriter(d, false);
    for (const i of [1, 2, 3]) w.appendMessage(message(i));
    w.commit();
    w.close();
    const file = join(d, "0000000000000001.seg");
    const bytes = readFileSync(file);
    const second = 8 + bytes.readUInt32LE(0); // the second record's header
    bytes.writeUInt8((bytes.readUInt8(second + 28) ^ 0xff) & 0xff, second + 28); // a byte flipped inside its body
    writeFileSync(file, bytes);
    const { records, end } = readAll(d);
    deepStrictEqual(
      records.map((r) => (r.kind === "message" ? r.mid : -1)),
      [1],
    );
    deepStrictEqual(
      end.stops.map((s) => [s.reason, s.offset, s.bytesLeft]),
      [["corrupt", second, bytes.length - second]],
    );
  });
});
