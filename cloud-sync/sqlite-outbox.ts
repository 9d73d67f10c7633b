/** The outbox in a SQLite file (WAL), written in batches: one transaction per append/remove. */
import Database from "better-sqlite3";
import type { Outbox, OutboxRecord, PriorityLevel, StoredRecord } from "./outbox.js";

const SCHEMA_VERSION = 1;

export interface SqliteOutboxOptions {
  /** PRAGMA synchronous: NORMAL (default) or FULL */
  synchronous?: "NORMAL" | "FULL";
}

interface Row {
  seq: number;
  id: string;
  revision: number;
  priority: number;
  topic: string;
  payload: Buffer;
}

export class SqliteOutbox implements Outbox {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly del: Database.Statement;
  private readonly count: Database.Statement;
  private readonly page: Database.Statement;
  private readonly appendTx: (records: readonly OutboxRecord[], now: number) => void;
  private readonly removeTx: (seqs: readonly number[]) => number;
  private cachedDepth: number;

  constructor(file: string, options: SqliteOutboxOptions = {}) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${options.synchronous ?? "NORMAL"}`);
    migrate(this.db);
    this.insert = this.db.prepare(
      "INSERT INTO outbox (id, revision, priority, topic, payload, enqueued_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.del = this.db.prepare("DELETE FROM outbox WHERE seq = ?");
    this.count = this.db.prepare("SELECT count(*) AS n FROM outbox");
    this.page = this.db.prepare(
      "SELECT seq, id, revision, priority, topic, payload FROM outbox ORDER BY priority DESC, seq LIMIT ?",
    );
    this.appendTx = this.db.transaction((records: readonly OutboxRecord[], now: number) => {
      for (const r of records)
        this.insert.run(r.id, r.revision, r.priority, r.topic, r.payload, now);
    });
    this.removeTx = this.db.transaction((seqs: readonly number[]) => {
      let removed = 0;
      for (const seq of seqs) removed += this.del.run(seq).changes;
      return removed;
    });
    this.cachedDepth = (this.count.get() as { n: number }).n;
  }

  append(records: readonly OutboxRecord[], nowMs: number): void {
    if (records.length === 0) return;
    this.appendTx(records, nowMs);
    this.cachedDepth += records.length;
  }

  peek(limit: number, exclude: ReadonlySet<number>): StoredRecord[] {
    if (limit <= 0) return [];
    const rows = this.page.all(limit + exclude.size) as Row[];
    const out: StoredRecord[] = [];
    for (const row of rows) {
      if (exclude.has(row.seq)) continue;
      out.push({ ...row, priority: row.priority as PriorityLevel });
      if (out.length === limit) break;
    }
    return out;
  }

  remove(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    this.cachedDepth -= this.removeTx(seqs);
  }

  depth(): number {
    return this.cachedDepth;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function migrate(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `outbox schema version ${version} is newer than this Brook understands (${SCHEMA_VERSION})`,
    );
  }
  if (version < 1) {
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
      PRAGMA user_version = 1;
    `);
  }
}
