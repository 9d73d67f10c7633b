/**
 * The outbox holds opaque records until the uplink has them acknowledged by the cloud
 * broker. cloud-sync knows nothing of the engine: a record is an id, a revision, a
 * priority, a topic and a payload.
 */
export const Priority = { bulk: 0, aggregate: 1, alert: 2 } as const;
export type PriorityLevel = (typeof Priority)[keyof typeof Priority];

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

export interface Outbox {
  /** Appends records in one transaction. */
  append(records: readonly OutboxRecord[], nowMs: number): void;
  /** Up to `limit` records not in `exclude`, highest priority first, oldest first within a priority. */
  peek(limit: number, exclude: ReadonlySet<number>): StoredRecord[];
  /** Removes acknowledged records, in one transaction. */
  remove(seqs: readonly number[]): void;
  depth(): number;
  close(): void;
}
