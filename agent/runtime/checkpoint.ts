/**
 * Engine checkpoints in `<dataDir>/state.db`: one snapshot, serialised with v8.serialize
 * (compact binary; typed arrays stay typed arrays), written every checkpoint interval and
 * at shutdown, read at start. Results go first, then the state that produced them: a
 * checkpoint is written only once every result before it is in the outbox, so a crash
 * between the two re-emits results, never loses them.
 */
import { deserialize, serialize } from "node:v8";
import Database from "better-sqlite3";
import { sqliteOptions } from "../../cloud-sync/sqlite-native.js";
import type { EngineSnapshot } from "../engine/engine.js";
import type { Logger } from "./log.js";
import type { AgentCounters } from "./metrics.js";

export class StateStore {
  private readonly db: Database.Database;
  private readonly write: Database.Statement;

  constructor(file: string) {
    this.db = new Database(file, sqliteOptions());
    try {
      this.db.pragma("journal_mode = WAL");
      this.db.exec(
        "CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), saved_at INTEGER NOT NULL, version INTEGER NOT NULL, body BLOB NOT NULL)",
      );
      this.write = this.db.prepare(
        "INSERT INTO checkpoint (id, saved_at, version, body) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET saved_at = excluded.saved_at, version = excluded.version, body = excluded.body",
      );
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /** The last snapshot, or undefined if there is none or it is of a version this Brook cannot read. */
  load(): { snapshot: EngineSnapshot; savedAt: number; bytes: number } | undefined {
    const row = this.db
      .prepare("SELECT saved_at, version, body FROM checkpoint WHERE id = 1")
      .get() as { saved_at: number; version: number; body: Buffer } | undefined;
    if (row === undefined || row.version !== 2) return undefined;
    return {
      snapshot: deserialize(row.body) as EngineSnapshot,
      savedAt: row.saved_at,
      bytes: row.body.length,
    };
  }

  /** Returns the snapshot's size in bytes. */
  save(snapshot: EngineSnapshot, nowMs: number): number {
    const body = serialize(snapshot);
    this.write.run(nowMs, snapshot.version, body);
    return body.length;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

export interface CheckpointerOptions {
  store: StateStore;
  intervalMs: number;
  counters: AgentCounters;
  logger: Logger;
  /** commits every result waiting for the outbox; true when none is left waiting */
  flushResults: () => boolean;
  snapshot: () => EngineSnapshot;
}

/** When and how the engine's state is saved. */
export class Checkpointer {
  private last: number;

  constructor(
    private readonly options: CheckpointerOptions,
    now: number,
  ) {
    this.last = now;
  }

  /** Saves when the interval has passed since the last attempt. */
  due(now: number): void {
    if (now - this.last < this.options.intervalMs) return;
    this.save(now);
    this.last = now;
  }

  /** Saves unless results still wait for the outbox; false when it could not. */
  save(now: number): boolean {
    const { store, counters, logger, flushResults, snapshot } = this.options;
    if (!flushResults()) return false;
    try {
      store.save(snapshot(), now);
      counters.checkpoints++;
      return true;
    } catch (err) {
      logger.error(
        { err: (err as Error).message },
        "could not checkpoint engine state; open windows restart empty",
      );
      return false;
    }
  }
}
