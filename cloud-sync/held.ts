/**
 * Records an outbox holds in memory before writing them (SqliteOutbox's write-behind): one
 * map a priority, in seq order, with their count, payload bytes and append times.
 */
import type { OutboxRecord, PriorityLevel, StoredRecord } from "./outbox.js";

export interface HeldRecord extends StoredRecord {
  /** when it was appended (ms) */
  at: number;
}

export class HeldRecords {
  /** by priority level, in seq order */
  private readonly byPriority: Map<number, HeldRecord>[] = [new Map(), new Map(), new Map()];
  rows = 0;
  bytes = 0;

  add(r: OutboxRecord, seq: number, at: number): void {
    const held: HeldRecord = {
      seq,
      id: r.id,
      revision: r.revision,
      priority: r.priority,
      topic: r.topic,
      payload: r.payload,
      at,
    };
    (this.byPriority[r.priority] as Map<number, HeldRecord>).set(seq, held);
    this.rows++;
    this.bytes += r.payload.length;
  }

  /** Takes a record out; false if none has this seq. */
  take(seq: number): boolean {
    for (const m of this.byPriority) if (this.takeFrom(m, seq)) return true;
    return false;
  }

  /** A priority's records, in seq order. */
  of(priority: PriorityLevel | number): IterableIterator<HeldRecord> {
    return (this.byPriority[priority] as Map<number, HeldRecord>).values();
  }

  /** The records with a seq below `before`, every priority's. */
  below(before: number): HeldRecord[] {
    const out: HeldRecord[] = [];
    for (const m of this.byPriority)
      for (const r of m.values()) {
        if (r.seq >= before) break;
        out.push(r);
      }
    return out;
  }

  /** Takes out records known to be held (after they were written). */
  drop(records: readonly HeldRecord[]): void {
    for (const r of records)
      this.takeFrom(this.byPriority[r.priority] as Map<number, HeldRecord>, r.seq);
  }

  private takeFrom(m: Map<number, HeldRecord>, seq: number): boolean {
    const r = m.get(seq);
    if (r === undefined) return false;
    m.delete(seq);
    this.rows--;
    this.bytes -= r.payload.length;
    return true;
  }

  /** The earliest append time held, if any. */
  oldestAt(): number | undefined {
    let oldest: number | undefined;
    for (const m of this.byPriority)
      for (const r of m.values()) if (oldest === undefined || r.at < oldest) oldest = r.at;
    return oldest;
  }
}
