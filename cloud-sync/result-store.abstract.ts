/**
 * The shared test suite every cloud sink store must pass (CONVENTIONS.md 4): a store's
 * test file calls `resultStoreSuite` with a factory that opens a store on one database
 * (called again, it opens another connection to the same one).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import type { Incoming, ResultStore, SinkResult } from "./result-store.js";
import { CloudSink } from "./sink.js";

export interface StoreFactory {
  /** a fresh, empty database */
  fresh(): Promise<void>;
  /** a store on the current database (another connection each call) */
  open(sink: string): Promise<ResultStore>;
}

function agg(id: string, revision: number, mean: number, extra: Partial<SinkResult> = {}) {
  return {
    kind: "agg",
    id,
    revision,
    device: "pi-1",
    rule: "per-minute",
    key: "pump/temp",
    start: 60_000,
    end: 120_000,
    partial: false,
    aggregates: { mean },
    ...extra,
  };
}

const incoming = (r: ReturnType<typeof agg>): Incoming => ({
  result: r,
  body: JSON.stringify(r),
});

function sinkOn(store: ResultStore) {
  return new CloudSink({ client: { handleMessage: undefined } as never, store, now: () => 5 });
}

export function resultStoreSuite(name: string, factory: StoreFactory): void {
  describe(`${name} (cloud sink store contract)`, () => {
    it("keeps one row per id at its highest revision, and counts duplicates, conflicts, stale copies and rejects", async () => {
      await factory.fresh();
      const store = await factory.open("s1");
      const sink = sinkOn(store);
      const send = (r: unknown) =>
        sink.receive("brook/pi-1/agg/per-minute", Buffer.from(JSON.stringify(r)));
      await send(agg("w1", 0, 1));
      await send(agg("w1", 0, 1));
      await send(agg("w1", 0, 7));
      await send(agg("w1", 1, 2));
      await send(agg("w1", 0, 1));
      await sink.receive("brook/pi-1/agg/per-minute", Buffer.from("garbage"));
      await send({ id: 5 });
      await send({ id: "w2", kind: "agg", revision: 0, start: { not: "a number" } });
      const expected = {
        messages: 8,
        inserted: 1,
        updated: 1,
        duplicates: 1,
        conflicts: 1,
        stale: 1,
        rejected: 3,
        storeErrors: 0,
      };
      deepStrictEqual(sink.counters, expected);
      const row = await store.get("w1");
      deepStrictEqual(row, {
        id: "w1",
        revision: 1,
        kind: "agg",
        device: "pi-1",
        rule: "per-minute",
        key: "pump/temp",
        windowStart: 60_000,
        windowEnd: 120_000,
        partial: false,
        body: agg("w1", 1, 2),
        receivedAt: 5,
      });
      strictEqual(await store.count(), 1);
      await store.close();
      // The counters are the database's: another connection reads them.
      const again = await factory.open("s2");
      const { storeErrors: _, ...stored } = expected;
      deepStrictEqual(await again.stats(), { counters: stored, rows: { agg: 1 } });
      await again.close();
    });

    it("a message's results go in one write: of one id, the highest revision is written and the others judged against it", async () => {
      await factory.fresh();
      const store = await factory.open("s1");
      const alertOpen = { ...agg("a1", 0, 0), kind: "alert", state: "open" };
      const alertResolved = { ...agg("a1", 1, 0), kind: "alert", state: "resolved" };
      const outcomes = await store.write(
        [
          incoming(agg("w1", 0, 1)),
          incoming(alertOpen as never),
          incoming(agg("w2", 0, 1, { partial: true, device: undefined })),
          incoming(alertResolved as never),
          incoming(agg("w1", 0, 1)),
          incoming(agg("w1", 0, 9)),
        ],
        { messages: 1 },
        7,
      );
      deepStrictEqual(outcomes, [
        "inserted",
        "stale",
        "inserted",
        "inserted",
        "duplicate",
        "conflict",
      ]);
      deepStrictEqual((await store.get("a1"))?.body, alertResolved);
      const w2 = await store.get("w2");
      deepStrictEqual([w2?.device, w2?.partial], [null, true]);
      deepStrictEqual(await store.write([], { messages: 1, rejected: 1 }, 8), []);
      deepStrictEqual(await store.stats(), {
        counters: { conflicts: 1, duplicates: 1, inserted: 3, messages: 2, rejected: 1, stale: 1 },
        rows: { agg: 2, alert: 1 },
      });
      await store.close();
    });

    it("writers on one database at once (sinks of one group) lose nothing and apply nothing twice: the highest revision wins", async () => {
      await factory.fresh();
      const writers = await Promise.all([factory.open("a"), factory.open("b"), factory.open("c")]);
      // 60 ids, revisions 0–4 each, every copy sent twice, shuffled among three writers.
      const copies: Incoming[] = [];
      for (let id = 0; id < 60; id++)
        for (let rev = 0; rev < 5; rev++)
          for (let copy = 0; copy < 2; copy++) copies.push(incoming(agg(`w${id}`, rev, rev)));
      let seed = 7;
      const random = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      for (let i = copies.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [copies[i], copies[j]] = [copies[j] as Incoming, copies[i] as Incoming];
      }
      const batches: Incoming[][] = [];
      for (let i = 0; i < copies.length; i += 10) batches.push(copies.slice(i, i + 10));
      const outcomes = (
        await Promise.all(
          writers.map(async (w, k) => {
            const mine: string[] = [];
            for (let b = k; b < batches.length; b += writers.length)
              mine.push(...(await w.write(batches[b] as Incoming[], { messages: 1 }, 1)));
            return mine;
          }),
        )
      ).flat();
      strictEqual(outcomes.length, copies.length);
      const count = (o: string) => outcomes.filter((x) => x === o).length;
      strictEqual(count("inserted"), 60);
      strictEqual(count("conflict"), 0);
      ok(count("updated") <= 60 * 4);
      const [first, second] = writers;
      for (let id = 0; id < 60; id++) strictEqual((await first.get(`w${id}`))?.revision, 4);
      strictEqual(await first.count(), 60);
      const { counters } = await second.stats();
      strictEqual(counters.messages, batches.length);
      strictEqual(
        (counters.inserted ?? 0) +
          (counters.updated ?? 0) +
          (counters.duplicates ?? 0) +
          (counters.stale ?? 0),
        copies.length,
      );
      for (const w of writers) await w.close();
    });
  });
}
