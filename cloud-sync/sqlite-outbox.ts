/**
 * The outbox in a SQLite file (WAL). Every append and every removal is one transaction,
 * so callers batch (the agent commits in groups: see group-commit.ts). Depth and bytes are
 * kept in memory after one count at open, so the hot path never scans the table.
 *
 * `synchronous`: NORMAL (default) or FULL. In WAL mode NORMAL never corrupts the file,
 * but a power cut can lose the transactions of the last moments (those not yet
 * checkpointed to disk); FULL syncs every commit, so nothing committed is lost, at a cost
 * in write rate. A crash of the process alone loses nothing under either.
 */
import Database from "better-sqlite3";
import { type HeldRecord, HeldRecords } from "./held.js";
import {
  type DropCounts,
  NO_CURSOR,
  noDrops,
  type Outbox,
  type OutboxQuota,
  type OutboxRecord,
  type OutboxStats,
  PRIORITY_NAMES,
  type PriorityLevel,
  type SeqCursor,
  type StoredRecord,
  UNLIMITED,
} from "./outbox.js";
import { migrate, requireCurrent } from "./outbox-schema.js";
import { sqliteOptions } from "./sqlite-native.js";

export interface SqliteOutboxOptions {
  synchronous?: "NORMAL" | "FULL";
  quota?: OutboxQuota;
  /** open an existing outbox read-only (for `brook outbox stats` beside a running agent) */
  readonly?: boolean;
  /**
   * Write-behind: appended records are held in memory and written only by `persist`, or at
   * once when more than `maxRows` records or `maxBytes` payload bytes would be held, or when
   * the quota would be passed; a record removed (acknowledged) before then is never written.
   * Only for a writer that can make the records again after a crash: the agent, which replays
   * its reading log from its last checkpoint and persists before each checkpoint.
   */
  writeBehind?: WriteBehind;
}

export interface WriteBehind {
  maxRows: number;
  maxBytes: number;
  /**
   * An append at least this long after the previous persist persists with `onlyOlder`: a
   * record is held at most about twice this while records keep coming (and until the
   * writer's next persist when they stop).
   */
  holdMs: number;
}

interface Row {
  seq: number;
  id: string;
  revision: number;
  priority: number;
  topic: string;
  payload: Buffer;
}

/** The outbox connection's SQLite page cache, KiB. */
export const OUTBOX_CACHE_KIB = 2048;

export class SqliteOutbox implements Outbox {
  private readonly db: Database.Database;
  private readonly quota: OutboxQuota;
  private readonly insert: Database.Statement;
  private readonly del: Database.Statement;
  private readonly page: Database.Statement;
  private readonly oldestInPriority: Database.Statement;
  private readonly addDrops: Database.Statement;
  private readonly delOne: Database.Statement;
  private readonly appendTx: (records: readonly OutboxRecord[], now: number) => void;
  private readonly removeTx: (seqs: readonly number[]) => void;
  /** rows and payload bytes in the file */
  private rows = 0;
  private bytes = 0;
  private readonly writeBehind: WriteBehind | undefined;
  /** write-behind: the records held, every one's seq above every seq in the file */
  private readonly held = new HeldRecords();
  private readonly writeTx: (records: readonly HeldRecord[], now: number) => void;
  /** write-behind: the next seq given */
  private nextSeq = 1;
  /** write-behind: `nextSeq` at the previous persist, and when it was */
  private mark = 1;
  private markAt: number | undefined;
  /** write-behind: the seq sqlite_sequence holds */
  private givenUpTo = 0;
  private lastNow = 0;

  constructor(file: string, options: SqliteOutboxOptions = {}) {
    this.db = new Database(
      file,
      sqliteOptions({
        readonly: options.readonly ?? false,
        fileMustExist: options.readonly ?? false,
      }),
    );
    this.quota = options.quota ?? UNLIMITED;
    // better-sqlite3 builds SQLite with a 16 MB page cache per connection; the outbox is
    // appended at its end and read from its start, so 2 MiB holds its working set. With
    // 16 MB, each burst of results left up to 16 MB more in the agent (docs/BENCHMARKS.md).
    this.db.pragma(`cache_size = -${OUTBOX_CACHE_KIB}`);
    if (!options.readonly) {
      this.db.pragma("journal_mode = WAL");
      this.db.pragma(`synchronous = ${options.synchronous ?? "NORMAL"}`);
      migrate(this.db);
    } else {
      try {
        requireCurrent(this.db, file);
      } catch (err) {
        this.db.close();
        throw err;
      }
    }
    this.insert = this.db.prepare(
      "INSERT INTO outbox (id, revision, priority, topic, payload, enqueued_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    // One statement for a whole acknowledgement (a JSON array of seqs), not one per record.
    this.del = this.db.prepare(
      "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) RETURNING length(payload) AS n",
    );
    this.page = this.db.prepare(
      "SELECT seq, id, revision, priority, topic, payload FROM outbox WHERE priority = ? AND seq > ? ORDER BY seq",
    );
    this.oldestInPriority = this.db.prepare(
      "SELECT seq, length(payload) AS n FROM outbox WHERE priority = ? ORDER BY seq LIMIT ?",
    );
    this.addDrops = this.db.prepare("UPDATE drops SET count = count + ? WHERE priority = ?");
    this.delOne = this.db.prepare("DELETE FROM outbox WHERE seq = ?");
    this.appendTx = this.db.transaction((records: readonly OutboxRecord[], now: number) => {
      for (const r of records) {
        this.insert.run(r.id, r.revision, r.priority, r.topic, r.payload, now);
        this.rows++;
        this.bytes += r.payload.length;
      }
      this.enforce(now);
    });
    this.removeTx = this.db.transaction((seqs: readonly number[]) => {
      for (const gone of this.del.iterate(JSON.stringify(seqs)) as IterableIterator<{
        n: number;
      }>) {
        this.rows--;
        this.bytes -= gone.n;
      }
    });
    this.recount();
    this.writeBehind = options.writeBehind;
    // Seqs given to held records continue AUTOINCREMENT's (sqlite_sequence: the largest ever
    // used); each write moves it past every seq given, written or not.
    const written = this.db.prepare(
      "INSERT INTO outbox (seq, id, revision, priority, topic, payload, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    const given = this.db.prepare(
      "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'outbox'",
    );
    const firstGiven = this.db.prepare(
      "INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox', ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox')",
    );
    this.writeTx = this.db.transaction((records: readonly HeldRecord[], now: number) => {
      for (const r of records) {
        written.run(r.seq, r.id, r.revision, r.priority, r.topic, r.payload, r.at);
        this.rows++;
        this.bytes += r.payload.length;
      }
      given.run(this.nextSeq - 1);
      firstGiven.run(this.nextSeq - 1);
      this.enforce(now);
    });
    if (this.writeBehind !== undefined) {
      const top = this.db
        .prepare(
          "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0) AS s, coalesce(max(seq), 0) AS m FROM outbox",
        )
        .get() as { s: number; m: number };
      this.givenUpTo = Math.max(top.s, top.m);
      this.nextSeq = this.givenUpTo + 1;
      this.mark = this.nextSeq;
    }
  }

  append(records: readonly OutboxRecord[], nowMs: number): void {
    if (records.length === 0) return;
    this.lastNow = nowMs;
    const wb = this.writeBehind;
    if (wb !== undefined) {
      const h = this.held;
      const first = this.nextSeq;
      for (const r of records) h.add(r, this.nextSeq++, nowMs);
      const q = this.quota;
      if (
        h.rows > wb.maxRows ||
        h.bytes > wb.maxBytes ||
        this.rows + h.rows > q.maxRows ||
        this.bytes + h.bytes > q.maxBytes
      ) {
        try {
          this.write(h.below(Number.POSITIVE_INFINITY), nowMs);
        } catch (err) {
          for (let seq = first; seq < this.nextSeq; seq++) h.take(seq);
          throw err;
        }
      } else if (this.markAt === undefined) this.markAt = nowMs;
      else if (nowMs - this.markAt >= wb.holdMs) {
        try {
          this.persist(nowMs, true);
        } catch {
          // These records are held all the same; the writer's next persist tries again and
          // says why (the agent's tick logs it), and past maxRows an append fails.
        }
      }
      return;
    }
    try {
      this.appendTx(records, nowMs);
    } catch (err) {
      this.recount(); // the transaction rolled back: our running totals did not
      throw err;
    }
  }

  /**
   * Write-behind: writes the records held (with `onlyOlder`, those already held at the
   * previous call: a record is held at most from one call to the next), in one transaction.
   */
  persist(nowMs: number, onlyOlder = false): void {
    if (this.writeBehind === undefined) return;
    const before = onlyOlder ? this.mark : Number.POSITIVE_INFINITY;
    this.mark = this.nextSeq;
    this.markAt = nowMs;
    const records = this.held.below(before);
    // Nothing held that old: nothing to write (the seqs given are written at the next write).
    if (records.length === 0 && onlyOlder) return;
    this.write(records, nowMs);
  }

  /**
   * Writes held records, a prefix of their seqs, then lets them go; and the largest seq
   * given, written or not, so that none is given again after a close.
   */
  private write(records: readonly HeldRecord[], nowMs: number): void {
    if (records.length === 0 && this.nextSeq - 1 <= this.givenUpTo) return;
    try {
      this.writeTx(records, nowMs);
    } catch (err) {
      this.recount();
      throw err;
    }
    this.givenUpTo = this.nextSeq - 1;
    this.held.drop(records);
  }

  private recount(): void {
    const t = this.db
      .prepare("SELECT count(*) AS rows, coalesce(sum(length(payload)), 0) AS bytes FROM outbox")
      .get() as { rows: number; bytes: number };
    this.rows = t.rows;
    this.bytes = t.bytes;
  }

  peek(limit: number, exclude: ReadonlySet<number>, after: SeqCursor = NO_CURSOR): StoredRecord[] {
    const out: StoredRecord[] = [];
    // Each priority's rows from its cursor on (the send-order index), read only as far as needed.
    for (let p = after.length - 1; p >= 0 && out.length < limit; p--) {
      const from = after[p] as number;
      if (this.rows > 0)
        for (const row of this.page.iterate(p, from) as IterableIterator<Row>) {
          if (exclude.has(row.seq)) continue;
          out.push({ ...row, priority: row.priority as PriorityLevel });
          if (out.length === limit) break;
        }
      // Then the held ones: each seq above those in the file.
      if (out.length < limit && this.held.rows > 0)
        for (const r of this.held.of(p)) {
          if (r.seq <= from || exclude.has(r.seq)) continue;
          out.push(r);
          if (out.length === limit) break;
        }
    }
    return out;
  }

  remove(seqs: readonly number[]): void {
    if (this.held.rows > 0) {
      const written: number[] = [];
      for (const seq of seqs) if (!this.held.take(seq)) written.push(seq);
      seqs = written;
    }
    if (seqs.length === 0) return;
    try {
      this.removeTx(seqs);
    } catch (err) {
      this.recount();
      throw err;
    }
  }

  expire(nowMs: number): void {
    if (this.quota.maxAgeMs === Number.POSITIVE_INFINITY) return;
    // A held record past maxAge: written with the rest, and dropped with the file's.
    const oldest = this.held.oldestAt();
    if (oldest !== undefined && oldest < nowMs - this.quota.maxAgeMs) {
      this.persist(nowMs);
      return;
    }
    if (this.rows === 0) return;
    try {
      this.db.transaction(() => this.enforce(nowMs))();
    } catch (err) {
      this.recount(); // rolled back: our running totals did not
      throw err;
    }
  }

  /** Inside a transaction: drops what the quota does not allow, counting by priority. */
  private enforce(nowMs: number): void {
    const q = this.quota;
    if (q.maxAgeMs !== Number.POSITIVE_INFINITY) {
      const cutoff = nowMs - q.maxAgeMs;
      const old = this.db
        .prepare(
          "SELECT priority, count(*) AS n, sum(length(payload)) AS b FROM outbox WHERE enqueued_at < ? GROUP BY priority",
        )
        .all(cutoff) as { priority: number; n: number; b: number }[];
      if (old.length > 0) {
        this.db.prepare("DELETE FROM outbox WHERE enqueued_at < ?").run(cutoff);
        for (const o of old) this.dropped(o.priority, o.n, o.b);
      }
    }
    for (
      let p = 0;
      p < PRIORITY_NAMES.length && (this.rows > q.maxRows || this.bytes > q.maxBytes);
      p++
    ) {
      while (this.rows > q.maxRows || this.bytes > q.maxBytes) {
        // Oldest first within the lowest priority, in chunks.
        // Candidates in chunks; the loop below stops as soon as both limits hold.
        const excessRows = Math.max(
          100,
          Math.min(1_000, this.rows - Math.min(this.rows, q.maxRows)),
        );
        const victims = this.oldestInPriority.all(p, excessRows) as { seq: number; n: number }[];
        if (victims.length === 0) break;
        let n = 0;
        let b = 0;
        for (const v of victims) {
          if (this.rows - n <= q.maxRows && this.bytes - b <= q.maxBytes) break;
          this.delOne.run(v.seq);
          n++;
          b += v.n;
        }
        this.dropped(p, n, b);
      }
    }
  }

  private dropped(priority: number, rows: number, bytes: number): void {
    if (rows === 0) return;
    this.rows -= rows;
    this.bytes -= bytes;
    this.addDrops.run(rows, priority);
  }

  depth(): number {
    return this.rows + this.held.rows;
  }

  /** Records held in memory, not written (write-behind). */
  heldRows(): number {
    return this.held.rows;
  }

  stats(nowMs: number): OutboxStats {
    const oldest = this.db.prepare("SELECT min(enqueued_at) AS t FROM outbox").get() as {
      t: number | null;
    };
    const drops: DropCounts = noDrops();
    for (const d of this.db.prepare("SELECT priority, count FROM drops").all() as {
      priority: number;
      count: number;
    }[]) {
      const name = PRIORITY_NAMES[d.priority];
      if (name !== undefined) drops[name] = d.count;
    }
    const held = this.held.oldestAt();
    const t = oldest.t === null ? held : held === undefined ? oldest.t : Math.min(held, oldest.t);
    return {
      depth: this.depth(),
      bytes: this.bytes + this.held.bytes,
      oldestAgeMs: t === undefined ? 0 : nowMs - t,
      drops,
    };
  }

  /**
   * Closes the file, having written what is held (write-behind). If that write fails (a full
   * disk), what was held comes back from the writer's replay, as after a crash: the agent
   * logs the failed checkpoint that left it held, and a stop must still close everything.
   */
  close(): void {
    if (!this.db.open) return;
    try {
      this.persist(this.lastNow);
    } catch {
      // See above: not lost, made again.
    } finally {
      this.db.close();
    }
  }
}
