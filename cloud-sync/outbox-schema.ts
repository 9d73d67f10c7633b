/**
 * The SQLite outbox's schema: its migrations, applied in order at open, and the version a
 * read-only reader (`brook outbox stats`) requires.
 */
import type Database from "better-sqlite3";

export const OUTBOX_SCHEMA_VERSION = 2;

/** Schema migrations, applied in order; each brings the file to its version. */
const MIGRATIONS: ((db: Database.Database) => void)[] = [
  (db) =>
    db.exec(`
      CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        enqueued_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS outbox_send_order ON outbox (priority DESC, seq);
    `),
  (db) =>
    db.exec(`
      CREATE INDEX IF NOT EXISTS outbox_age ON outbox (enqueued_at);
      CREATE TABLE IF NOT EXISTS drops (priority INTEGER PRIMARY KEY, count INTEGER NOT NULL);
      INSERT OR IGNORE INTO drops (priority, count) VALUES (0, 0), (1, 0), (2, 0);
    `),
];

export function migrate(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > OUTBOX_SCHEMA_VERSION) {
    throw new Error(
      `outbox schema version ${version} is newer than this Brook understands (${OUTBOX_SCHEMA_VERSION})`,
    );
  }
  for (let v = version; v < OUTBOX_SCHEMA_VERSION; v++) {
    db.transaction(() => {
      (MIGRATIONS[v] as (db: Database.Database) => void)(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** A file opened read-only must already be at this Brook's version (nothing migrates it). */
export function requireCurrent(db: Database.Database, file: string): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version !== OUTBOX_SCHEMA_VERSION)
    throw new Error(
      `outbox ${file} has schema version ${version}; this Brook reads version ${OUTBOX_SCHEMA_VERSION} (start the agent once to migrate it)`,
    );
}
