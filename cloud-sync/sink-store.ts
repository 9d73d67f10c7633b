/**
 * The cloud sink's SQLite file (result-store.ts): one row per result id, the highest
 * revision kept. Synchronous underneath (better-sqlite3); `write` resolves once committed.
 */
import Database from "better-sqlite3";
import {
  collapse,
  type Incoming,
  judge,
  type ResultRow,
  type ResultStore,
  type StoredRow,
  storedRow,
  type UpsertOutcome,
  withOutcomes,
} from "./result-store.js";
import { sqliteOptions } from "./sqlite-native.js";

export type { SinkResult, UpsertOutcome } from "./result-store.js";

export class SinkStore implements ResultStore {
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
    this.select = this.db.prepare("SELECT * FROM results WHERE id = ?");
    this.insert = this.db.prepare(
      "INSERT INTO results (id, revision, kind, device, rule, key, window_start, window_end, partial, body, received_at) VALUES (@id, @revision, @kind, @device, @rule, @key, @start, @end, @partial, @body, @now)",
    );
    this.update = this.db.prepare(
      "UPDATE results SET revision = @revision, kind = @kind, device = @device, rule = @rule, key = @key, window_start = @start, window_end = @end, partial = @partial, body = @body, received_at = @now WHERE id = @id",
    );
    this.countRows = this.db.prepare("SELECT count(*) AS n FROM results");
  }

  /** Committed before it resolves (better-sqlite3 is synchronous). */
  async write(
    batch: readonly Incoming[],
    stats: Readonly<Record<string, number>>,
    nowMs: number,
  ): Promise<UpsertOutcome[]> {
    return this.db.transaction(() => {
      const outcomes: UpsertOutcome[] = new Array(batch.length);
      const { winners, losers } = collapse(batch);
      for (const i of winners) outcomes[i] = this.upsert(batch[i] as Incoming, nowMs);
      for (const i of losers) {
        const { result, body } = batch[i] as Incoming;
        const stored = this.select.get(result.id) as ResultRow;
        outcomes[i] = judge(result.revision, {
          revision: stored.revision,
          sameBody: stored.body === body,
        });
      }
      for (const [name, value] of Object.entries(withOutcomes(stats, outcomes)))
        if (value !== 0) this.bumpStat.run(name, value);
      return outcomes;
    })();
  }

  private upsert({ result, body }: Incoming, nowMs: number): UpsertOutcome {
    const existing = this.select.get(result.id) as ResultRow | undefined;
    const params = {
      id: result.id,
      revision: result.revision,
      kind: result.kind,
      device: result.device ?? null,
      rule: result.rule ?? null,
      key: result.key ?? null,
      start: result.start ?? null,
      end: result.end ?? null,
      partial:
        result.partial === undefined || result.partial === null ? null : result.partial ? 1 : 0,
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
    return judge(result.revision, {
      revision: existing.revision,
      sameBody: body === existing.body,
    });
  }

  async stats(): Promise<{ counters: Record<string, number>; rows: Record<string, number> }> {
    const counters = this.db.prepare("SELECT name, value FROM sink_stats ORDER BY name").all() as {
      name: string;
      value: number;
    }[];
    const kinds = this.db
      .prepare("SELECT kind, count(*) AS n FROM results GROUP BY kind ORDER BY kind")
      .all() as { kind: string; n: number }[];
    return {
      counters: Object.fromEntries(counters.map((r) => [r.name, r.value])),
      rows: Object.fromEntries(kinds.map((r) => [r.kind, r.n])),
    };
  }

  async count(): Promise<number> {
    return this.countNow();
  }

  countNow(): number {
    return (this.countRows.get() as { n: number }).n;
  }

  async get(id: string): Promise<StoredRow | undefined> {
    const r = this.select.get(id) as ResultRow | undefined;
    return r === undefined ? undefined : storedRow(r);
  }

  async close(): Promise<void> {
    this.closeNow();
  }

  closeNow(): void {
    if (this.db.open) this.db.close();
  }
}
