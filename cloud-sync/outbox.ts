/**
 * The outbox holds opaque records until the uplink has them acknowledged by the cloud
 * broker. cloud-sync knows nothing of the engine: a record is an id, a revision, a
 * priority, a topic and a payload.
 */
export const Priority = { bulk: 0, aggregate: 1, alert: 2 } as const;
export type PriorityLevel = (typeof Priority)[keyof typeof Priority];
export const PRIORITY_NAMES = ["bulk", "aggregate", "alert"] as const;
export type PriorityName = (typeof PRIORITY_NAMES)[number];

/** By priority level (Priority): the last seq of that priority known to be in flight; -1 for none. */
export type SeqCursor = readonly [bulk: number, aggregate: number, alert: number];

export const NO_CURSOR: SeqCursor = [-1, -1, -1];

export interface OutboxRecord {
  id: string;
  revision: number;
  priority: PriorityLevel;
  topic: string;
  payload: Buffer;
}

export interface StoredRecord extends OutboxRecord {
  /** position in the outbox; records are sent in priority order, then by seq */
  seq: number;
}

/**
 * Limits on what the outbox keeps. Over `maxRows` or `maxBytes` (payload bytes), the
 * oldest records of the lowest priority go first, alerts last; records older than
 * `maxAge` go whatever their priority. Every drop is counted by priority.
 */
export interface OutboxQuota {
  maxRows: number;
  maxBytes: number;
  maxAgeMs: number;
}

export const UNLIMITED: OutboxQuota = {
  maxRows: Number.POSITIVE_INFINITY,
  maxBytes: Number.POSITIVE_INFINITY,
  maxAgeMs: Number.POSITIVE_INFINITY,
};

export type DropCounts = Record<PriorityName, number>;

export interface OutboxStats {
  depth: number;
  bytes: number;
  /** age of the oldest record, ms; 0 when empty */
  oldestAgeMs: number;
  /** records dropped by the quota, by priority, over the outbox's lifetime */
  drops: DropCounts;
}

export interface Outbox {
  /** Appends records in one transaction, then enforces the quota. */
  append(records: readonly OutboxRecord[], nowMs: number): void;
  /**
   * Up to `limit` records not in `exclude`, highest priority first, oldest first within a
   * priority. `after`, by priority level: every record of that priority with a seq up to
   * it is in `exclude` (or gone), so the outbox need not read it again (the uplink's
   * records in flight, a prefix of each priority's while sends succeed). Seqs only grow:
   * one is never given again, even once its record is removed (after a crash, the seq of
   * a record that was held in memory and never written may be: no seq outlives a process).
   */
  peek(limit: number, exclude: ReadonlySet<number>, after?: SeqCursor): StoredRecord[];
  /** Removes acknowledged records, in one transaction; unknown seqs are ignored. */
  remove(seqs: readonly number[]): void;
  /** Drops what the quota's maxAge no longer allows (append does this too, when it writes). */
  expire(nowMs: number): void;
  /**
   * Writes the records an outbox holds in memory before writing them, if it does (with
   * `onlyOlder`, those it held already at the previous call); a no-op for the others.
   */
  persist(nowMs: number, onlyOlder?: boolean): void;
  /** How many records it holds in memory and has not written (0 for the others). */
  heldRows(): number;
  depth(): number;
  stats(nowMs: number): OutboxStats;
  close(): void;
}

export function noDrops(): DropCounts {
  return { bulk: 0, aggregate: 0, alert: 0 };
}
