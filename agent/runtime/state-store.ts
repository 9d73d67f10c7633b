/**
 * Engine state kept across restarts in `<dataDir>/state.db`: one snapshot, written at
 * shutdown and read at start, so windows open across a restart resume instead of being
 * cut in two.
 */
import Database from "better-sqlite3";
import type { EngineSnapshot } from "../engine/engine.js";

export class StateStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), saved_at INTEGER NOT NULL, body TEXT NOT NULL)",
    );
  }

  load(): EngineSnapshot | undefined {
    const row = this.db.prepare("SELECT body FROM checkpoint WHERE id = 1").get() as
      | { body: string }
      | undefined;
    if (row === undefined) return undefined;
    const snapshot = JSON.parse(row.body) as EngineSnapshot;
    return snapshot.version === 1 ? snapshot : undefined;
  }

  save(snapshot: EngineSnapshot, nowMs: number): void {
    this.db
      .prepare(
        "INSERT INTO checkpoint (id, saved_at, body) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET saved_at = excluded.saved_at, body = excluded.body",
      )
      .run(nowMs, JSON.stringify(snapshot));
  }

  /** Forgets the snapshot once it has been restored, so a crash later cannot restore it twice. */
  clear(): void {
    this.db.prepare("DELETE FROM checkpoint").run();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
