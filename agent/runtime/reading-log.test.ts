import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { VirtualClock } from "../../lib/clock.js";
import { createLogger } from "./log.js";
import { ReadingLog } from "./reading-log.js";

/** A log whose end-of-turn commits run when the test says (`turn()`). */
function setup(maxBytes = 1_000_000) {
  const deferred: (() => void)[] = [];
  const events: string[] = [] as string[];
  const log = new ReadingLog({
    dir: join(mkdtempSync(join(tmpdir(), "brook-readinglog-")), "log"),
    maxBytes,
    sync: false,
    clock: new VirtualClock(0),
    logger: createLogger("silent"),
    wantsCheckpoint: () => events.push("wants checkpoint"),
    resumed: () => events.push("resumed"),
    defer: (fn) => deferred.push(fn),
  });
  const turn = () => {
    for (const fn of deferred.splice(0)) fn();
  };
  const message = (i: number) =>
    log.message({
      at: i,
      eventAt: i,
      qos: 1,
      dup: false,
      client: "c",
      mid: i,
      topic: "sensors/d/s",
      payload: Buffer.alloc(100, i),
    });
  return { log, events, turn, message };
}

describe("reading log", () => {
  it("group-commits at the end of the turn, and only then releases the acknowledgements, in order", () => {
    const { log, events, turn, message } = setup();
    for (const i of [1, 2, 3]) {
      message(i);
      log.afterCommit(() => events.push(`ack ${i}`));
    }
    deepStrictEqual(events, []);
    turn();
    deepStrictEqual(
      [events, log.counters.commits, log.counters.records],
      [["ack 1", "ack 2", "ack 3"], 1, 3],
    );
    let now = false;
    log.afterCommit(() => {
      now = true;
    });
    strictEqual(now, true, "with nothing pending, at once");
    log.close();
  });

  it("stops taking input at its bound, asks for a checkpoint at half, and resumes once one truncates it", () => {
    const { log, events, turn, message } = setup(1_000);
    let i = 0;
    while (log.accepting) message(++i);
    turn();
    strictEqual(events[0], "wants checkpoint");
    deepStrictEqual([log.accepting, log.counters.backpressure, i > 5], [false, 1, true]);
    log.checkpointed(log.checkpointPosition());
    deepStrictEqual([log.accepting, log.size, events.at(-1)], [true, 0, "resumed"]);
    log.close();
  });
});
