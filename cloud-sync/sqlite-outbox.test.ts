import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { outboxSuite, record } from "./outbox.abstract.js";
import { Priority } from "./outbox.js";
import { OUTBOX_SCHEMA_VERSION } from "./outbox-schema.js";
import { SqliteOutbox } from "./sqlite-outbox.js";

const dir = mkdtempSync(join(tmpdir(), "brook-outbox-"));
let n = 0;
outboxSuite("SqliteOutbox", (quota) => new SqliteOutbox(join(dir, `outbox-${n++}.db`), { quota }));
// Write-behind: everything held in memory; and at most 2 records held, so that the file and
// memory both hold some.
for (const [name, maxRows] of [
  ["write-behind", 10_000],
  ["write-behind of at most 2 records", 2],
] as const)
  outboxSuite(
    `SqliteOutbox, ${name}`,
    (quota) =>
      new SqliteOutbox(join(dir, `outbox-${n++}.db`), {
        quota,
        writeBehind: { maxRows, maxBytes: 1 << 20, holdMs: 1e9 },
      }),
  );

/** The seqs and ids in the file itself (not what the outbox holds in memory). */
function inFile(file: string): [number, string][] {
  const db = new Database(file, { readonly: true });
  try {
    return (
      db.prepare("SELECT seq, id FROM outbox ORDER BY seq").all() as { seq: number; id: string }[]
    ).map((r) => [r.seq, r.id]);
  } finally {
    db.close();
  }
}

const WRITE_BEHIND = { writeBehind: { maxRows: 100, maxBytes: 1 << 20, holdMs: 1e9 } };

describe("SqliteOutbox, write-behind", () => {
  it("never writes a record removed before it is persisted; persist writes the rest with their seqs, which a reopened outbox keeps and gives no more", () => {
    const file = join(dir, "behind.db");
    const box = new SqliteOutbox(file, WRITE_BEHIND);
    box.append([record("a"), record("b"), record("c", Priority.alert)], 1);
    const [c, a, b] = box.peek(10, new Set()).map((r) => r.seq) as number[];
    deepStrictEqual(inFile(file), []);
    strictEqual(box.depth(), 3);
    box.remove([b as number]);
    box.persist(2);
    deepStrictEqual(inFile(file), [
      [a, "a"],
      [c, "c"],
    ]);
    box.append([record("d")], 3);
    const d = box.peek(10, new Set()).find((r) => r.id === "d")?.seq as number;
    box.remove([d]);
    box.close(); // d, never written: its seq is given no more either
    const again = new SqliteOutbox(file, WRITE_BEHIND);
    deepStrictEqual(
      again.peek(10, new Set()).map((r) => [r.seq, r.id]),
      [
        [c, "c"],
        [a, "a"],
      ],
    );
    again.append([record("e")], 4);
    const e = again.peek(10, new Set()).find((r) => r.id === "e")?.seq as number;
    strictEqual(e > d && d > (c as number), true);
    again.remove([a as number, e]);
    deepStrictEqual(inFile(file), [[c, "c"]]);
    again.close();
  });

  it("with onlyOlder, persists only what was held at the previous call; beyond maxRows held, an append writes everything held", () => {
    const file = join(dir, "behind-older.db");
    const box = new SqliteOutbox(file, {
      writeBehind: { maxRows: 3, maxBytes: 1 << 20, holdMs: 1e9 },
    });
    box.append([record("a")], 1);
    box.persist(1, true); // a was appended since the last call: held still
    deepStrictEqual(
      inFile(file).map(([, id]) => id),
      [],
    );
    box.append([record("b")], 2);
    box.persist(2, true); // a was held at the previous call: written
    deepStrictEqual(
      inFile(file).map(([, id]) => id),
      ["a"],
    );
    box.append([record("c"), record("d")], 3); // b, c, d held
    deepStrictEqual(
      inFile(file).map(([, id]) => id),
      ["a"],
    );
    box.append([record("e")], 4); // 4 held: all written
    deepStrictEqual(
      inFile(file).map(([, id]) => id),
      ["a", "b", "c", "d", "e"],
    );
    deepStrictEqual(
      box.peek(10, new Set()).map((r) => r.id),
      ["a", "b", "c", "d", "e"],
    );
    box.close();
  });

  it("an append holdMs after the previous persist writes what was held before it: a record is held for at most about twice holdMs while records come", () => {
    const file = join(dir, "behind-hold.db");
    const box = new SqliteOutbox(file, {
      writeBehind: { maxRows: 100, maxBytes: 1 << 20, holdMs: 100 },
    });
    const ids = () => inFile(file).map(([, id]) => id);
    box.append([record("a")], 0); // the first append starts the clock
    box.append([record("b")], 50);
    box.append([record("c")], 100); // 100 ms on: a persist, of what was held before the open
    deepStrictEqual(ids(), []);
    box.remove([box.peek(10, new Set()).find((r) => r.id === "b")?.seq as number]);
    box.append([record("d")], 150);
    deepStrictEqual(ids(), []);
    box.append([record("e")], 200); // a and c, held at that persist, written; b acknowledged in time, never
    deepStrictEqual(ids(), ["a", "c"]);
    box.append([record("f")], 300);
    deepStrictEqual(ids(), ["a", "c", "d", "e"]);
    box.close();
  });
});

describe("SqliteOutbox", () => {
  it("keeps records across a close and reopen of the file", () => {
    const file = join(dir, "reopen.db");
    const first = new SqliteOutbox(file);
    first.append([record("a"), record("b")], 1);
    first.remove([first.peek(1, new Set())[0]?.seq as number]);
    first.close();
    const second = new SqliteOutbox(file);
    strictEqual(second.depth(), 1);
    deepStrictEqual(
      second.peek(10, new Set()).map((r) => r.id),
      ["b"],
    );
    second.close();
  });

  it("migrates a version-1 file (the foundation's) to the current schema, keeping its records", () => {
    const file = join(dir, "v1.db");
    const db = new Database(file);
    db.exec(
      "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, revision INTEGER NOT NULL, priority INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, enqueued_at INTEGER NOT NULL); PRAGMA user_version = 1;",
    );
    db.prepare(
      "INSERT INTO outbox (id, revision, priority, topic, payload, enqueued_at) VALUES ('old', 0, 1, 't', x'7b7d', 5)",
    ).run();
    db.close();
    const box = new SqliteOutbox(file);
    deepStrictEqual(
      box.peek(10, new Set()).map((r) => r.id),
      ["old"],
    );
    deepStrictEqual(box.stats(10), {
      depth: 1,
      bytes: 2,
      oldestAgeMs: 5,
      drops: { bulk: 0, aggregate: 0, alert: 0 },
    });
    box.close();
    const check = new Database(file, { readonly: true });
    strictEqual(check.pragma("user_version", { simple: true }), OUTBOX_SCHEMA_VERSION);
    check.close();
  });

  it("refuses a file from a newer Brook", () => {
    const file = join(dir, "future.db");
    const db = new Database(file);
    db.pragma("user_version = 99");
    db.close();
    throws(() => new SqliteOutbox(file), /schema version 99 is newer/);
  });
});
