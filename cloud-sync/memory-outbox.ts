/** The outbox in memory: for tests, benchmarks and devices without a writable disk. */
import {
  type DropCounts,
  NO_CURSOR,
  noDrops,
  type Outbox,
  type OutboxQuota,
  type OutboxRecord,
  type OutboxStats,
  PRIORITY_NAMES,
  type SeqCursor,
  type StoredRecord,
  UNLIMITED,
} from "./outbox.js";

interface Entry extends StoredRecord {
  enqueuedAt: number;
  /** removed after its PUBACK; skipped, and dropped from the queue once at its front */
  removed: boolean;
}

export class MemoryOutbox implements Outbox {
  /** one FIFO per priority, oldest first */
  private readonly queues: Entry[][] = [[], [], []];
  private readonly bySeq = new Map<number, Entry>();
  private nextSeq = 1;
  private rows = 0;
  private bytes = 0;
  private readonly drops: DropCounts = noDrops();

  constructor(private readonly quota: OutboxQuota = UNLIMITED) {}

  append(records: readonly OutboxRecord[], nowMs: number): void {
    for (const r of records) {
      const e: Entry = { ...r, seq: this.nextSeq++, enqueuedAt: nowMs, removed: false };
      (this.queues[r.priority] as Entry[]).push(e);
      this.bySeq.set(e.seq, e);
      this.rows++;
      this.bytes += r.payload.length;
    }
    this.enforce(nowMs);
  }

  peek(limit: number, exclude: ReadonlySet<number>, after: SeqCursor = NO_CURSOR): StoredRecord[] {
    const out: StoredRecord[] = [];
    for (let p = this.queues.length - 1; p >= 0 && out.length < limit; p--) {
      const q = this.trimmed(p);
      for (const e of q) {
        if (e.removed || e.seq <= (after[p] ?? -1) || exclude.has(e.seq)) continue;
        out.push({
          seq: e.seq,
          id: e.id,
          revision: e.revision,
          priority: e.priority,
          topic: e.topic,
          payload: e.payload,
        });
        if (out.length === limit) break;
      }
    }
    return out;
  }

  remove(seqs: readonly number[]): void {
    for (const seq of seqs) {
      const e = this.bySeq.get(seq);
      if (e === undefined) continue;
      this.bySeq.delete(seq);
      e.removed = true;
      this.rows--;
      this.bytes -= e.payload.length;
    }
  }

  /** The queue of a priority with removed entries cleared from its front. */
  private trimmed(priority: number): Entry[] {
    const q = this.queues[priority] as Entry[];
    while (q.length > 0 && (q[0] as Entry).removed) q.shift();
    return q;
  }

  /** Nothing to write: it holds everything in memory. */
  persist(): void {}

  heldRows(): number {
    return 0;
  }

  expire(nowMs: number): void {
    this.enforce(nowMs);
  }

  private enforce(nowMs: number): void {
    const cutoff = nowMs - this.quota.maxAgeMs;
    for (let p = 0; p < this.queues.length; p++) {
      while (
        this.trimmed(p).length > 0 &&
        ((this.queues[p] as Entry[])[0] as Entry).enqueuedAt < cutoff
      )
        this.dropOldest(p);
    }
    for (
      let p = 0;
      p < this.queues.length &&
      (this.rows > this.quota.maxRows || this.bytes > this.quota.maxBytes);
      p++
    ) {
      while (
        this.trimmed(p).length > 0 &&
        (this.rows > this.quota.maxRows || this.bytes > this.quota.maxBytes)
      ) {
        this.dropOldest(p);
      }
    }
  }

  private dropOldest(priority: number): void {
    const e = this.trimmed(priority).shift() as Entry;
    this.bySeq.delete(e.seq);
    this.rows--;
    this.bytes -= e.payload.length;
    this.drops[PRIORITY_NAMES[priority] as keyof DropCounts]++;
  }

  depth(): number {
    return this.rows;
  }

  stats(nowMs: number): OutboxStats {
    let oldest = Number.POSITIVE_INFINITY;
    for (let p = 0; p < this.queues.length; p++) {
      const q = this.trimmed(p);
      if (q.length > 0) oldest = Math.min(oldest, (q[0] as Entry).enqueuedAt);
    }
    return {
      depth: this.rows,
      bytes: this.bytes,
      oldestAgeMs: oldest === Number.POSITIVE_INFINITY ? 0 : nowMs - oldest,
      drops: { ...this.drops },
    };
  }

  close(): void {}
}
