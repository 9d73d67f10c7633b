/**
 * The reading log's input stage at its edges: acknowledgements around a failing disk, a
 * message sent again while its original waits, a sensor whose packet ids start again, a
 * publisher's resend after heavy traffic, QoS 0 traffic held too long or at a stop, a
 * corrupt segment, a torn tail that cannot be cut off, and a log turned off with readings
 * in it. The agent's own stages on real files; time virtual; the edge broker left out
 * (messages go in where it hands them over, with what it knows of them).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import fs, {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MAX_HELD_QOS0_BYTES, type MessageMeta } from "../agent/runtime/durable-input.js";
import { listSegments, readLog, SegmentWriter } from "../agent/runtime/log-segments.js";
import { SqliteOutbox } from "../cloud-sync/sqlite-outbox.js";
import { VirtualClock } from "../lib/clock.js";
import { recoveredStages } from "./helpers/stages.js";

const T0 = 1_700_000_000_000;
const RULES =
  "rules:\n  - name: per-second\n    window: { type: tumbling, size: 1s }\n    aggregates: [count]\n    idleTimeout: 2s\n";

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "brook-durable-input-"));
  writeFileSync(join(dir, "rules.yaml"), RULES);
  return dir;
}

/** The agent's stages on `dir`, recovered; `config` adds to a minimal config file. */
function open(dir: string, clock: VirtualClock, config = "") {
  const { stages, counters, turn } = recoveredStages(
    dir,
    clock,
    `device: d\nrules: rules.yaml\nhttp: {enabled: false}\n${config}`,
  );
  const acks: string[] = [];
  const agent = {
    stages,
    counters,
    acks,
    /** the end of a turn of the event loop: the log's commit */
    turn,
    /** A message as the edge hands it over; its acknowledgement is recorded as `name`. */
    send(payload: object | string, meta: Partial<MessageMeta> & { mid: number }, name?: string) {
      const topic = `sensors/d/${meta.client ?? "s"}`;
      const body = typeof payload === "string" ? payload : JSON.stringify(payload);
      return stages.input.message(
        topic,
        Buffer.from(body),
        { qos: 1, dup: false, client: meta.client ?? "s", ...meta },
        () => acks.push(name ?? String(meta.mid)),
      );
    },
    /** Every window flushed (the keys go idle) and every result committed; then closed. */
    finish(): Map<string, { count: number; partial: boolean }> {
      agent.turn();
      clock.advance(60_000);
      stages.input.tick(clock.now());
      agent.turn();
      ok(stages.batcher.flush());
      agent.crash();
      return results(dir);
    },
    /** Everything left as it is. */
    crash() {
      stages.log?.close();
      stages.outbox.close();
      stages.store.close();
    },
  };
  return agent;
}

/** The windows in the outbox: "sensor window-start" → count and partial (latest revision). */
function results(dir: string): Map<string, { count: number; partial: boolean }> {
  const outbox = new SqliteOutbox(join(dir, "data", "outbox.db"));
  const out = new Map<string, { count: number; partial: boolean }>();
  for (const r of outbox.peek(1_000_000, new Set())) {
    const body = JSON.parse(r.payload.toString());
    if (body.kind !== "agg") continue;
    out.set(`${body.key} ${body.start}`, {
      count: body.aggregates.count,
      partial: body.partial === true,
    });
  }
  outbox.close();
  return out;
}

/** Makes the log's writes fail as a full disk does, until the returned function is called. */
function diskFull(agent: ReturnType<typeof open>): () => void {
  // biome-ignore lint/suspicious/noExplicitAny: the log's writer, reached into to fail it
  const writer = (agent.stages.log as any).writer as { commit: () => void };
  const commit = writer.commit;
  writer.commit = () => {
    throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  };
  return () => {
    writer.commit = commit;
  };
}

const reading = (i: number, extra: object = {}) => ({ ts: T0 + i * 10, value: i, ...extra });

describe("the reading log's input stage", () => {
  it("an acknowledgement waits for the commit of its own message, also when a failing disk recovers", () => {
    const clock = new VirtualClock(T0);
    const agent = open(dataDir(), clock);
    const spaceBack = diskFull(agent);
    agent.send(reading(1), { mid: 1 });
    agent.turn(); // the commit fails: input is held
    strictEqual(agent.stages.log?.accepting, false);
    agent.send(reading(2), { mid: 2 });
    strictEqual(agent.stages.input.held, 1);
    spaceBack();
    agent.stages.log?.commit(); // the retry: message 1 committed, message 2 taken
    deepStrictEqual(agent.acks, ["1"], "message 2's record is not written yet");
    agent.turn();
    deepStrictEqual(agent.acks, ["1", "2"]);
    deepStrictEqual(
      [...agent.finish().values()].map((w) => w.count),
      [2],
    );
  });

  it("a message sent again while its original waits for the log is taken once", () => {
    const clock = new VirtualClock(T0);
    const agent = open(dataDir(), clock);
    const spaceBack = diskFull(agent);
    agent.send(reading(1), { mid: 1 });
    agent.turn();
    agent.send(reading(2), { mid: 2 }, "2 (first connection)");
    clock.advance(90_000); // the connection breaks; the publisher sends it again, without DUP
    const since = clock.now() - 92_000;
    agent.stages.input.connectionBroke("s", since);
    agent.send(
      reading(2),
      { mid: 2, firstOnConnection: { acksLostSince: since } },
      "2 (second connection)",
    );
    strictEqual(agent.stages.input.held, 2);
    spaceBack();
    agent.stages.log?.commit();
    agent.turn();
    strictEqual(agent.counters.redelivered, 1);
    deepStrictEqual(agent.acks, ["1", "2 (first connection)", "2 (second connection)"]);
    deepStrictEqual(
      [...agent.finish().values()].map((w) => w.count),
      [2],
    );
  });

  it("a sensor whose packet ids start again is not taken for one sending again: same content without a time of its own is a new reading", () => {
    const clock = new VirtualClock(T0);
    const agent = open(dataDir(), clock);
    const wake = () => {
      // a deep-sleep sensor: wakes, connects, publishes packet id 1, sleeps without DISCONNECT
      const since = clock.now() - 92_000;
      return agent.send(
        { value: 21.5 },
        { mid: 1, client: "door", firstOnConnection: { acksLostSince: since } },
      );
    };
    strictEqual(wake(), false);
    agent.turn();
    for (let i = 0; i < 3; i++) {
      clock.advance(200);
      agent.stages.input.connectionBroke("door", clock.now() - 92_000);
      strictEqual(wake(), false, `wake ${i + 2} is a new reading`);
      agent.turn();
    }
    strictEqual(agent.counters.redelivered, 0);
    // The same with its own time: the same reading sent again.
    agent.send(reading(9), { mid: 2, client: "door" });
    agent.turn();
    agent.stages.input.connectionBroke("door", clock.now() - 92_000);
    const again = agent.send(reading(9), {
      mid: 2,
      client: "door",
      firstOnConnection: { acksLostSince: clock.now() - 92_000 },
    });
    strictEqual(again, true);
    const counts = [...agent.finish().values()].map((w) => w.count);
    strictEqual(
      counts.reduce((a, b) => a + b, 0),
      5,
    );
  });

  it("what a publisher may send again is kept when its connection breaks, whatever traffic follows", () => {
    const clock = new VirtualClock(T0);
    const agent = open(dataDir(), clock);
    agent.send(reading(1), { mid: 7, client: "a" });
    agent.turn();
    agent.stages.input.connectionBroke("a", clock.now() - 92_000);
    // 20,000 messages of others, more than the memory of the last messages holds
    for (let i = 0; i < 20_000; i++) {
      agent.send(reading(2 + (i % 50)), { mid: (i % 65_535) + 1, client: `b${i % 100}` });
      if (i % 1000 === 999) agent.turn();
    }
    clock.advance(5_000);
    const again = agent.send(reading(1), {
      mid: 7,
      client: "a",
      firstOnConnection: { acksLostSince: clock.now() - 92_000 },
    });
    strictEqual(again, true);
    strictEqual(agent.counters.redelivered, 1);
    agent.crash();
  });

  it("QoS 0 held beyond its bound is lost: counted, and the windows open then are emitted partial", () => {
    const clock = new VirtualClock(T0);
    const agent = open(dataDir(), clock);
    agent.send(reading(1), { mid: 0, qos: 0 });
    agent.turn();
    const spaceBack = diskFull(agent);
    agent.send(reading(2), { mid: 0, qos: 0 });
    agent.turn(); // fails: held from here
    const pad = "x".repeat(1024 * 1024);
    const n = Math.ceil(MAX_HELD_QOS0_BYTES / pad.length) + 2;
    for (let i = 0; i < n; i++) agent.send(reading(3, { pad }), { mid: 0, qos: 0 });
    ok(agent.counters.lost.held_overflow >= 2, `${agent.counters.lost.held_overflow} lost`);
    spaceBack();
    agent.stages.log?.commit();
    const windows = [...agent.finish().values()];
    deepStrictEqual(
      windows.map((w) => w.partial),
      [true],
    );
  });

  it("QoS 0 held at a stop is lost: counted, and the windows open are emitted partial", () => {
    const clock = new VirtualClock(T0);
    const agent = open(dataDir(), clock);
    agent.send(reading(1), { mid: 0, qos: 0 });
    agent.turn();
    diskFull(agent);
    agent.send(reading(2), { mid: 0, qos: 0 });
    agent.turn();
    agent.send(reading(3), { mid: 0, qos: 0 });
    agent.send(reading(4), { mid: 9 });
    deepStrictEqual(agent.stages.input.dropWaiting(), { qos0: 1, qos1: 1 });
    strictEqual(agent.counters.lost.held_at_stop, 1);
    // biome-ignore lint/suspicious/noExplicitAny: the disk is back for the rest
    (agent.stages.log as any).writer.commit = SegmentWriter.prototype.commit;
    deepStrictEqual(
      [...agent.finish().values()].map((w) => w.partial),
      [true],
    );
  });

  it("a corrupt segment: what follows the corruption is counted, the segment moved aside, and the windows open emitted partial", () => {
    const dir = dataDir();
    const clock = new VirtualClock(T0);
    const first = open(dir, clock);
    for (let i = 1; i <= 10; i++) first.send(reading(i), { mid: i });
    first.turn();
    first.crash();
    const logDir = join(dir, "data", "log");
    // the segment the readings went to: the largest
    const file = readdirSync(logDir)
      .map((f) => join(logDir, f))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0] as string;
    const bytes = readFileSync(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] as number) ^ 0xff;
    writeFileSync(file, bytes);
    clock.advance(1_000);
    const second = open(dir, clock);
    strictEqual(second.counters.logCorrupt.segments, 1);
    ok(second.counters.logCorrupt.bytes > 0);
    ok(!existsSync(file));
    ok(readdirSync(logDir).some((f) => f.includes(".corrupt-")));
    const windows = [...second.finish().values()];
    ok(windows.length > 0 && windows.every((w) => w.partial && w.count < 10));
  });

  it("a failed commit whose torn tail cannot be cut off: the next commit starts a new segment, read back whole", () => {
    const dir = join(dataDir(), "log");
    const writer = new SegmentWriter(dir, false);
    const message = (mid: number) => ({
      at: T0,
      eventAt: T0,
      qos: 1,
      dup: false,
      client: "c",
      mid,
      topic: "sensors/d/s",
      payload: Buffer.from(JSON.stringify(reading(mid))),
    });
    writer.appendMessage(message(1));
    writer.commit();
    const { writeSync, ftruncateSync } = fs;
    fs.writeSync = ((fd: number, buffer: Buffer, offset: number, length: number) => {
      writeSync(fd, buffer, offset, Math.ceil(length / 2));
      throw Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" });
    }) as unknown as typeof fs.writeSync;
    fs.ftruncateSync = (() => {
      throw Object.assign(new Error("EIO: i/o error, ftruncate"), { code: "EIO" });
    }) as typeof fs.ftruncateSync;
    syncBuiltinESMExports();
    try {
      writer.appendMessage(message(2));
      let failed = false;
      try {
        writer.commit();
      } catch {
        failed = true;
      }
      ok(failed);
    } finally {
      fs.writeSync = writeSync;
      fs.ftruncateSync = ftruncateSync;
      syncBuiltinESMExports();
    }
    writer.appendMessage(message(3));
    writer.commit();
    writer.close();
    const mids: number[] = [];
    const end = readLog(dir, { segment: 0, offset: 0 }, (r) => {
      if (r.kind === "message") mids.push(r.mid);
    });
    deepStrictEqual(mids, [1, 2, 3]);
    deepStrictEqual(
      end.stops.map((s) => [s.reason, s.segment]),
      [["torn", 1]],
    );
  });

  it("the log turned off after a crash: what it held is replayed all the same, then deleted", () => {
    const dir = dataDir();
    const clock = new VirtualClock(T0);
    const first = open(dir, clock);
    for (let i = 1; i <= 10; i++) first.send(reading(i), { mid: i });
    first.turn();
    first.crash();
    clock.advance(1_000);
    const second = open(dir, clock, "readingLog: {enabled: false}\n");
    deepStrictEqual(listSegments(join(dir, "data", "log")), []);
    deepStrictEqual(
      [...second.finish().values()].map((w) => [w.count, w.partial]),
      [[10, false]],
    );
  });
});
