/**
 * The shared test suite every Outbox backend must pass (CONVENTIONS.md 4). A backend's
 * test file calls `outboxSuite` with a factory.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type Outbox,
  type OutboxQuota,
  type OutboxRecord,
  Priority,
  type PriorityLevel,
  UNLIMITED,
} from "./outbox.js";

export function record(id: string, priority: PriorityLevel = Priority.aggregate): OutboxRecord {
  return {
    id,
    revision: 0,
    priority,
    topic: `brook/d/agg/${id}`,
    payload: Buffer.from(`{"id":"${id}"}`),
  };
}

export function outboxSuite(name: string, open: (quota?: OutboxQuota) => Outbox): void {
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

    it("reads each priority on from its cursor, still skipping excluded records, and never reuses a seq", () => {
      const box = open();
      box.append([record("a"), record("b"), record("x", Priority.alert), record("c")], 1);
      const [a, b, x, c] = box.peek(10, new Set()).sort((l, r) => l.seq - r.seq);
      // a and x in flight up to the cursor; c in flight beyond it (sent out of seq order).
      const after = [-1, a?.seq as number, x?.seq as number] as const;
      deepStrictEqual(
        box
          .peek(10, new Set([a?.seq as number, x?.seq as number, c?.seq as number]), after)
          .map((r) => r.id),
        ["b"],
      );
      // Every record acknowledged: a record appended later comes after every cursor.
      box.remove([a, b, x, c].map((r) => r?.seq as number));
      box.append([record("d"), record("y", Priority.alert)], 2);
      deepStrictEqual(
        box.peek(10, new Set(), [-1, c?.seq as number, x?.seq as number]).map((r) => r.id),
        ["y", "d"],
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

    it("over maxRows drops the oldest of the lowest priority first, alerts last, and counts by priority", () => {
      const box = open({ ...UNLIMITED, maxRows: 3 });
      box.append(
        [
          record("alert1", Priority.alert),
          record("agg1"),
          record("bulk1", Priority.bulk),
          record("bulk2", Priority.bulk),
        ],
        1,
      );
      deepStrictEqual(
        box.peek(10, new Set()).map((r) => r.id),
        ["alert1", "agg1", "bulk2"],
      );
      box.append([record("alert2", Priority.alert), record("alert3", Priority.alert)], 2);
      deepStrictEqual(
        box.peek(10, new Set()).map((r) => r.id),
        ["alert1", "alert2", "alert3"],
      );
      box.append([record("alert4", Priority.alert)], 3);
      deepStrictEqual(
        box.peek(10, new Set()).map((r) => r.id),
        ["alert2", "alert3", "alert4"],
      );
      deepStrictEqual(box.stats(3).drops, { bulk: 2, aggregate: 1, alert: 1 });
      strictEqual(box.depth(), 3);
      box.close();
    });

    it("over maxBytes drops until the payloads fit", () => {
      const size = record("x").payload.length;
      const box = open({ ...UNLIMITED, maxBytes: size * 2 });
      box.append([record("a"), record("b"), record("c", Priority.alert)], 1);
      deepStrictEqual(
        box.peek(10, new Set()).map((r) => r.id),
        ["c", "b"],
      );
      deepStrictEqual(box.stats(1), {
        depth: 2,
        bytes: size * 2,
        oldestAgeMs: 0,
        drops: { bulk: 0, aggregate: 1, alert: 0 },
      });
      box.close();
    });

    it("drops records older than maxAge, whatever their priority", () => {
      const box = open({ ...UNLIMITED, maxAgeMs: 1_000 });
      box.append([record("old", Priority.alert)], 1_000);
      box.append([record("new")], 1_500);
      strictEqual(box.stats(1_900).oldestAgeMs, 900);
      box.expire(2_001);
      deepStrictEqual(
        box.peek(10, new Set()).map((r) => r.id),
        ["new"],
      );
      deepStrictEqual(box.stats(2_001).drops, { bulk: 0, aggregate: 0, alert: 1 });
      box.close();
    });

    it("reports depth, payload bytes and the oldest record's age", () => {
      const box = open();
      deepStrictEqual(box.stats(5), {
        depth: 0,
        bytes: 0,
        oldestAgeMs: 0,
        drops: { bulk: 0, aggregate: 0, alert: 0 },
      });
      box.append([record("a"), record("b")], 100);
      const seqs = box.peek(10, new Set()).map((r) => r.seq);
      box.remove([seqs[0] as number]);
      deepStrictEqual(box.stats(250), {
        depth: 1,
        bytes: record("b").payload.length,
        oldestAgeMs: 150,
        drops: { bulk: 0, aggregate: 0, alert: 0 },
      });
      box.close();
    });
  });
}
