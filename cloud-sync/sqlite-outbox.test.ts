import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { outboxSuite, record } from "./outbox.abstract.js";
import { OUTBOX_SCHEMA_VERSION, SqliteOutbox } from "./sqlite-outbox.js";

const dir = mkdtempSync(join(tmpdir(), "brook-outbox-"));
let n = 0;
outboxSuite("SqliteOutbox", (quota) => new SqliteOutbox(join(dir, `outbox-${n++}.db`), { quota }));

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
