/**
 * The cloud sink's SQLite file: one row per result id, the highest revision kept.
 * Results arrive as JSON objects with at least id, revision and kind.
 */
import Database from "better-sqlite3";
import { sqliteOptions } from "./sqlite-native.js";

export interface SinkResult {
  kind: string;
  id: string;
  revision: number;
  device?: string;
  rule?: string;
  key?: string;
  start?: number;
  end?: number;
  partial?: boolean;
}

/**
 * inserted/updated: stored. duplicate: the same id, revision and body as stored (a resend).
 * conflict: the same id and revision but a different body — kept as first stored, and
 * counted, because it means two producers disagree. stale: a lower revision than stored.
 */
export type UpsertOutcome = "inserted" | "updated" | "duplicate" | "conflict" | "stale";

export class SinkStore {
  private readonly db: Database.Database;
  private readonly select: Database.Statement;
  private readonly insert: Database.Statement;
  private readonly update: Database.Statement;
  private readonly countRows: Database.Statement;
  private readonly bumpStat: Database.Statement;

  constructor(file: string) {
    this.db = new Database(file, sqliteOptions());
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS results (
        id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        kind TEXT NOT NULL,
        device TEXT,
        rule TEXT,
        key TEXT,
        window_start INTEGER,
        window_end INTEGER,
        partial INTEGER,
        body TEXT NOT NULL,
        received_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS results_window ON results (device, rule, key, window_start);
      CREATE TABLE IF NOT EXISTS sink_stats (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
    this.bumpStat = this.db.prepare(
      "INSERT INTO sink_stats (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    );
    this.select = this.db.prepare("SELECT revision, body FROM results WHERE id = ?");
    this.insert = this.db.prepare(
      "INSERT INTO results (id, revision, kind, device, rule, key, window_start, window_end, partial, body, received_at) VALUES (@id, @revision, @kind, @device, @rule, @key, @start, @end, @partial, @body, @now)",
    );
    this.update = this.db.prepare(
      "UPDATE results SET revision = @revision, kind = @kind, device = @device, rule = @rule, key = @key, window_start = @start, window_end = @end, partial = @partial, body = @body, received_at = @now WHERE id = @id",
    );
    this.countRows = this.db.prepare("SELECT count(*) AS n FROM results");
  }

  upsert(result: SinkResult, body: string, nowMs: number): UpsertOutcome {
    const existing = this.select.get(result.id) as { revision: number; body: string } | undefined;
    const params = {
      id: result.id,
      revision: result.revision,
      kind: result.kind,
      device: result.device ?? null,
      rule: result.rule ?? null,
      key: result.key ?? null,
      start: result.start ?? null,
      end: result.end ?? null,
      partial: result.partial === undefined ? null : result.partial ? 1 : 0,
      body,
      now: nowMs,
    };
    if (existing === undefined) {
      this.insert.run(params);
      return "inserted";
    }
    if (result.revision > existing.revision) {
      this.update.run(params);
      return "updated";
    }
    if (result.revision < existing.revision) return "stale";
    return body === existing.body ? "duplicate" : "conflict";
  }

  /** Runs `fn` in one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Adds to the counters kept in the file, so `brook cloud-sink --stats` can read them. */
  addStats(delta: object): void {
    for (const [name, value] of Object.entries(delta) as [string, number][])
      if (value !== 0) this.bumpStat.run(name, value);
  }

  /** Lifetime counters and rows by kind. */
  stats(): { counters: Record<string, number>; rows: Record<string, number> } {
    const counters: Record<string, number> = {};
    for (const r of this.db.prepare("SELECT name, value FROM sink_stats ORDER BY name").all() as {
      name: string;
      value: number;
    }[]) {
      counters[r.name] = r.value;
    }
    const rows: Record<string, number> = {};
    for (const r of this.db
      .prepare("SELECT kind, count(*) AS n FROM results GROUP BY kind ORDER BY kind")
      .all() as { kind: string; n: number }[]) {
      rows[r.kind] = r.n;
    }
    return { counters, rows };
  }

  count(): number {
    return (this.countRows.get() as { n: number }).n;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
