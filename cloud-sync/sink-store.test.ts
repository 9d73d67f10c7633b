import { deepStrictEqual } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { CloudSink } from "./sink.js";
import { SinkStore } from "./sink-store.js";

describe("cloud sink store", () => {
  it("keeps one row per id, the highest revision, and counts duplicates, conflicts and stale copies", () => {
    const file = join(mkdtempSync(join(tmpdir(), "brook-sink-")), "cloud.db");
    const store = new SinkStore(file);
    const sink = new CloudSink({
      client: { handleMessage: undefined } as never,
      store,
      now: () => 5,
    });
    const result = (revision: number, mean: number) =>
      Buffer.from(
        JSON.stringify({
          kind: "agg",
          id: "w1",
          revision,
          rule: "r",
          key: "k",
          start: 0,
          end: 10,
          partial: false,
          aggregates: { mean },
        }),
      );
    sink.receive("brook/d/agg/r", result(0, 1));
    sink.receive("brook/d/agg/r", result(0, 1));
    sink.receive("brook/d/agg/r", result(0, 7));
    sink.receive("brook/d/agg/r", result(1, 2));
    sink.receive("brook/d/agg/r", result(0, 1));
    sink.receive("brook/d/agg/r", Buffer.from("garbage"));
    sink.receive("brook/d/agg/r", Buffer.from('{"id": 5}'));
    sink.receive(
      "brook/d/agg/r",
      Buffer.from('{"id": "w2", "kind": "agg", "revision": 0, "start": {"not": "a number"}}'),
    );
    deepStrictEqual(sink.counters, {
      messages: 8,
      inserted: 1,
      updated: 1,
      duplicates: 1,
      conflicts: 1,
      stale: 1,
      rejected: 3,
      storeErrors: 0,
    });
    store.close();
    const rows = new Database(file, { readonly: true })
      .prepare("SELECT id, revision, json_extract(body, '$.aggregates.mean') AS mean FROM results")
      .all();
    deepStrictEqual(rows, [{ id: "w1", revision: 1, mean: 2 }]);
  });
});
