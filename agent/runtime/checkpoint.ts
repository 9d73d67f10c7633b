/**
 * Checkpoints in `<dataDir>/state.db`: the engine's state, where the reading log's replay
 * starts, and the redeliveries remembered, serialised with v8.serialize (compact binary;
 * typed arrays stay typed arrays); written every checkpoint interval, when the log is half
 * full, after a rules reload and at shutdown; read at start.
 *
 * The engine's keys are written in parts of PART_KEYS keys, one row each, in the same
 * transaction as the rest: serialised whole, 10,000 sensors' state (27 MB) took 75 MB more
 * for a moment (the serialiser's doubling buffer, then SQLite's copy of one big blob).
 *
 * Order: the log committed, then every result of the readings in it committed to the
 * outbox, then the log rolled to a new segment and the checkpoint saved with that position,
 * then the older segments deleted. A crash anywhere in between leaves the last checkpoint
 * and the log after it: replayed, they re-emit results (the same ids and revisions), and
 * lose none.
 */
import { deserialize, serialize } from "node:v8";
import Database from "better-sqlite3";
import { sqliteOptions } from "../../cloud-sync/sqlite-native.js";
import type { EngineSnapshot } from "../engine/engine.js";
import { die, faultAt } from "./faults.js";
import type { Logger } from "./log.js";
import type { LogPosition } from "./log-segments.js";
import type { AgentCounters } from "./metrics.js";
import type { ReadingLog } from "./reading-log.js";
import type { RedeliverySnapshot } from "./redelivery.js";

/** What a checkpoint holds. */
export interface Checkpoint {
  engine: EngineSnapshot;
  /** where replay starts; undefined when the log was off (or the checkpoint older than the log) */
  log:
    | {
        position: LogPosition;
        /** written by a clean stop (nothing can have been lost after it) */
        clean: boolean;
        /** QoS 0 readings were taken since start (a crash may have lost the last turn's) */
        qos0: boolean;
      }
    | undefined;
  redeliveries: RedeliverySnapshot | undefined;
}

/**
 * The layout of a checkpoint's body: 2, an engine snapshot alone; 3, a Checkpoint; 4, a
 * Checkpoint whose rules' keys are in checkpoint_part rows (`parts`: each part's rule).
 */
const LAYOUT = 4;
/** Keys per checkpoint_part row: a few hundred KB each. */
export const PART_KEYS = 256;

type Keys = EngineSnapshot["rules"][number]["keys"];
type Loaded = { checkpoint: Checkpoint; savedAt: number; bytes: number };

export class StateStore {
  private readonly db: Database.Database;
  private readonly write: Database.Statement;
  private readonly writePart: Database.Statement;
  private readonly clearParts: Database.Statement;
  /** what `check` read, for the next `load` */
  private checked: { loaded: Loaded | undefined } | undefined;

  constructor(file: string) {
    this.db = new Database(file, sqliteOptions());
    try {
      this.db.pragma("journal_mode = WAL");
      // Durable when saved: the log segments before it are deleted next, so a power cut
      // must not roll it back (a checkpoint every few seconds: the fsync costs nothing).
      this.db.pragma("synchronous = FULL");
      // Written in parts once per interval, read at start: SQLite's page cache need not keep
      // them (better-sqlite3's default is 16 MB per connection; a 27 MB checkpoint left
      // that much behind). Pages beyond it go to the WAL uncommitted until the commit.
      this.db.pragma("cache_size = -512");
      this.db.exec(
        "CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), saved_at INTEGER NOT NULL, version INTEGER NOT NULL, body BLOB NOT NULL)",
      );
      this.db.exec(
        "CREATE TABLE IF NOT EXISTS checkpoint_part (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)",
      );
      this.write = this.db.prepare(
        "INSERT INTO checkpoint (id, saved_at, version, body) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET saved_at = excluded.saved_at, version = excluded.version, body = excluded.body",
      );
      this.writePart = this.db.prepare("INSERT INTO checkpoint_part (seq, body) VALUES (?, ?)");
      this.clearParts = this.db.prepare("DELETE FROM checkpoint_part");
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /** The last checkpoint, or undefined if there is none or it is of a layout this Brook cannot read. */
  load(): Loaded | undefined {
    const checked = this.checked;
    if (checked !== undefined) {
      this.checked = undefined;
      return checked.loaded;
    }
    return this.read();
  }

  /**
   * Reads the checkpoint through (a corrupt file throws here, at open) and keeps it for the
   * next `load`, so that recovery does not read and hold it a second time.
   */
  check(): void {
    this.checked = { loaded: this.read() };
  }

  private read(): Loaded | undefined {
    const row = this.db
      .prepare("SELECT saved_at, version, body FROM checkpoint WHERE id = 1")
      .get() as { saved_at: number; version: number; body: Buffer } | undefined;
    if (row === undefined || row.version < 2 || row.version > LAYOUT) return undefined;
    const body = deserialize(row.body);
    if (row.version === 2)
      return {
        checkpoint: { engine: body as EngineSnapshot, log: undefined, redeliveries: undefined },
        savedAt: row.saved_at,
        bytes: row.body.length,
      };
    if (row.version === 3)
      return { checkpoint: body as Checkpoint, savedAt: row.saved_at, bytes: row.body.length };
    const { parts, ...checkpoint } = body as Checkpoint & { parts: unknown };
    // A damaged file says "malformed": the agent moves it aside rather than stop (stages.ts).
    const malformed = (what: string) => new Error(`checkpoint malformed: ${what}`);
    if (!Array.isArray(parts) || !Array.isArray(checkpoint.engine?.rules))
      throw malformed("no parts list");
    let bytes = row.body.length;
    // One part in memory at a time, besides the state rebuilt from them.
    const rows = this.db
      .prepare("SELECT body FROM checkpoint_part ORDER BY seq")
      .iterate() as Iterable<{ body: Buffer }>;
    let i = 0;
    for (const part of rows) {
      bytes += part.body.length;
      const keys = checkpoint.engine.rules[parts[i++] as number]?.keys;
      const partKeys = deserialize(part.body) as unknown;
      if (keys === undefined || !Array.isArray(partKeys)) throw malformed("a part of no rule");
      for (const k of partKeys as Keys) keys.push(k);
    }
    if (i !== parts.length) throw malformed("parts missing");
    return { checkpoint, savedAt: row.saved_at, bytes };
  }

  /** Returns the checkpoint's size in bytes. Atomic: all of it is saved, or none. */
  save(checkpoint: Checkpoint, nowMs: number): number {
    this.checked = undefined;
    return this.db.transaction(() => {
      this.clearParts.run();
      const parts: number[] = [];
      let bytes = 0;
      checkpoint.engine.rules.forEach(({ keys }, rule) => {
        for (let at = 0; at < keys.length; at += PART_KEYS) {
          const body = serialize(keys.slice(at, at + PART_KEYS));
          this.writePart.run(parts.length, body);
          parts.push(rule);
          if (parts.length === 1 && faultAt("checkpoint-part")) die();
          bytes += body.length;
        }
      });
      const rules = checkpoint.engine.rules.map(({ rule }) => ({ rule, keys: [] as Keys }));
      const body = serialize({ ...checkpoint, engine: { ...checkpoint.engine, rules }, parts });
      this.write.run(nowMs, LAYOUT, body);
      return bytes + body.length;
    })();
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
  /** the reading log, when it is on */
  log: ReadingLog | undefined;
  redeliveries: () => RedeliverySnapshot | undefined;
  /** whether QoS 0 readings were taken since start */
  qos0: () => boolean;
}

/** When and how checkpoints are saved. */
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
  }

  /**
   * Saves a checkpoint unless the log cannot be committed or results still wait for the
   * outbox; false when it could not. `clean`: the agent is stopping and takes nothing more.
   */
  save(now: number, clean = false): boolean {
    const { store, counters, logger, flushResults, log } = this.options;
    this.last = now;
    if (log !== undefined && !log.commit()) return false;
    if (!flushResults()) return false;
    try {
      const position = log?.checkpointPosition();
      store.save(
        {
          engine: this.options.snapshot(),
          log: position === undefined ? undefined : { position, clean, qos0: this.options.qos0() },
          redeliveries: this.options.redeliveries(),
        },
        now,
      );
      counters.checkpoints++;
      if (faultAt("checkpoint")) die();
      if (position !== undefined) log?.checkpointed(position);
      return true;
    } catch (err) {
      logger.error(
        { err: (err as Error).message },
        "could not checkpoint engine state; the last checkpoint and the reading log after it stay",
      );
      return false;
    }
  }
}
