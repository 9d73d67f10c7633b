import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryOutbox } from "../../cloud-sync/memory-outbox.js";
import { type OutboxRecord, Priority } from "../../cloud-sync/outbox.js";
import { VirtualClock } from "../../lib/clock.js";
import { Batcher } from "./batcher.js";

const record = (id: string): OutboxRecord => ({
  id,
  revision: 0,
  priority: Priority.aggregate,
  topic: "brook/d/agg/r",
  payload: Buffer.from(id),
});

/** A batcher over a memory outbox that can be made to fail, with everything it reports. */
function setup(options: { batch?: number; pendingMax?: number } = {}) {
  const clock = new VirtualClock(1_000);
  const outbox = new MemoryOutbox();
  let failing = false;
  const append = outbox.append.bind(outbox);
  outbox.append = (records, now) => {
    if (failing) throw new Error("disk full");
    append(records, now);
  };
  const events: string[] = [];
  const batcher = new Batcher({
    outbox,
    clock,
    committed: () => events.push(`committed ${outbox.depth()}`),
    failed: (err, pending) => events.push(`failed ${err.message} ${pending}`),
    dropped: () => events.push("dropped"),
    flushMs: 50,
    ...options,
  });
  return {
    clock,
    outbox,
    batcher,
    events,
    fail: (on: boolean) => {
      failing = on;
    },
  };
}

describe("batcher: the outbox's group commit", () => {
  it("commits what waits every flushMs, in one append", () => {
    const { clock, outbox, batcher, events } = setup();
    batcher.start();
    batcher.add(record("a"));
    batcher.add(record("b"));
    clock.advance(49);
    deepStrictEqual([outbox.depth(), batcher.pending], [0, 2]);
    clock.advance(1);
    deepStrictEqual([outbox.depth(), batcher.pending, events], [2, 0, ["committed 2"]]);
    clock.advance(500); // nothing waiting: no empty commits
    deepStrictEqual(events, ["committed 2"]);
    batcher.stop();
  });

  it("commits at once when a batch is full", () => {
    const { outbox, batcher } = setup({ batch: 3 });
    for (const id of ["a", "b", "c", "d"]) batcher.add(record(id));
    deepStrictEqual([outbox.depth(), batcher.pending], [3, 1]);
  });

  it("keeps results while the outbox cannot be written and commits them when it can", () => {
    const { clock, outbox, batcher, events, fail } = setup();
    batcher.start();
    fail(true);
    batcher.add(record("a"));
    clock.advance(50);
    deepStrictEqual([batcher.flush(), batcher.pending], [false, 1]);
    fail(false);
    clock.advance(50);
    deepStrictEqual([outbox.depth(), batcher.pending], [1, 0]);
    deepStrictEqual(events, ["failed disk full 1", "failed disk full 1", "committed 1"]);
    batcher.stop();
  });

  it("after a failed commit, a full batch waits for the timer's retry instead of retrying at every result", () => {
    const { clock, outbox, batcher, events, fail } = setup({ batch: 2 });
    batcher.start();
    fail(true);
    for (const id of ["a", "b", "c", "d", "e"]) batcher.add(record(id));
    deepStrictEqual(events, ["failed disk full 2"]);
    fail(false);
    clock.advance(50);
    deepStrictEqual([outbox.depth(), events.at(-1)], [5, "committed 5"]);
    batcher.stop();
  });

  it("beyond pendingMax, drops and counts each result instead of growing", () => {
    const { batcher, events, fail } = setup({ pendingMax: 2 });
    fail(true);
    for (const id of ["a", "b", "c"]) batcher.add(record(id));
    deepStrictEqual([batcher.pending, events], [2, ["dropped"]]);
  });
});
