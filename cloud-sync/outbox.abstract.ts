/**
 * The shared test suite every Outbox backend must pass (CONVENTIONS.md 4). A backend's
 * test file calls `outboxSuite` with a factory.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { type Outbox, type OutboxRecord, Priority, type PriorityLevel } from "./outbox.js";

export function record(id: string, priority: PriorityLevel = Priority.aggregate): OutboxRecord {
  return {
    id,
    revision: 0,
    priority,
    topic: `brook/d/agg/${id}`,
    payload: Buffer.from(`{"id":"${id}"}`),
  };
}

export function outboxSuite(name: string, open: () => Outbox): void {
  describe(`${name} (outbox contract)`, () => {
    it("returns appended records oldest first, with their contents intact", () => {
      const box = open();
      box.append([record("a"), record("b")], 1);
      box.append([record("c")], 2);
      const got = box.peek(10, new Set());
      deepStrictEqual(
        got.map((r) => [r.id, r.topic, r.payload.toString()]),
        ["a", "b", "c"].map((id) => [id, `brook/d/agg/${id}`, `{"id":"${id}"}`]),
      );
      strictEqual(box.depth(), 3);
      box.close();
    });

    it("sends higher priorities first, oldest first within a priority", () => {
      const box = open();
      box.append(
        [
          record("bulk", Priority.bulk),
          record("agg1"),
          record("alert", Priority.alert),
          record("agg2"),
        ],
        1,
      );
      deepStrictEqual(
        box.peek(10, new Set()).map((r) => r.id),
        ["alert", "agg1", "agg2", "bulk"],
      );
      box.close();
    });

    it("skips excluded (in-flight) records and honours the limit", () => {
      const box = open();
      box.append([record("a"), record("b"), record("c")], 1);
      const [a] = box.peek(1, new Set());
      deepStrictEqual(
        box.peek(1, new Set([a?.seq as number])).map((r) => r.id),
        ["b"],
      );
      box.close();
    });

    it("removes acknowledged records and ignores ones already removed", () => {
      const box = open();
      box.append([record("a"), record("b")], 1);
      const seqs = box.peek(10, new Set()).map((r) => r.seq);
      box.remove([seqs[0] as number]);
      box.remove([seqs[0] as number]);
      strictEqual(box.depth(), 1);
      deepStrictEqual(
        box.peek(10, new Set()).map((r) => r.id),
        ["b"],
      );
      box.close();
    });
  });
}
