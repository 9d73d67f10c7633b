/**
 * The outbox's group commit: results wait in memory at most `flushMs` (or until `batch` of
 * them are waiting) and are then appended in one transaction. While the outbox cannot be
 * written (a full disk), up to `pendingMax` results wait and the commit is retried; beyond
 * that each result is dropped and counted (`outbox_unwritable`), never silently.
 */
import { createHash } from "node:crypto";
import { appendFileSync } from "node:fs";
import type { Outbox, OutboxRecord } from "../../cloud-sync/outbox.js";
import type { Clock, TimerHandle } from "../../lib/clock.js";

export interface BatcherOptions {
  outbox: Outbox;
  clock: Clock;
  /** after each commit: the uplink has something to send */
  committed: () => void;
  /** a commit failed; the results stay pending */
  failed: (err: Error, pending: number) => void;
  /** a result dropped because `pendingMax` results already wait */
  dropped: () => void;
  flushMs?: number;
  batch?: number;
  pendingMax?: number;
  /** one JSON line `{id, revision, sha256}` per record committed (fault tests, audits) */
  auditFile?: string;
  /**
   * Makes the inputs of the waiting results durable first (the reading log's commit): a
   * result never reaches the outbox before the readings it came from are on disk. False:
   * they are not, and the results wait.
   */
  inputsDurable?: () => boolean;
}

export class Batcher {
  private readonly waiting: OutboxRecord[] = [];
  private timer: TimerHandle | undefined;
  private readonly flushMs: number;
  private readonly batch: number;
  private readonly pendingMax: number;
  /** the last commit failed: only the timer retries, not every result added */
  private failing = false;

  constructor(private readonly options: BatcherOptions) {
    this.flushMs = options.flushMs ?? 50;
    this.batch = options.batch ?? 1_000;
    this.pendingMax = options.pendingMax ?? 100_000;
  }

  /** whether the last commit to the outbox failed (it is retried) */
  get failingNow(): boolean {
    return this.failing;
  }

  /** results not yet committed */
  get pending(): number {
    return this.waiting.length;
  }

  add(record: OutboxRecord): void {
    if (this.waiting.length >= this.pendingMax) {
      this.options.dropped();
      return;
    }
    this.waiting.push(record);
    if (this.waiting.length >= this.batch && !this.failing) this.flush();
  }

  /** Commits what waits; true when nothing is left waiting. */
  flush(): boolean {
    if (this.waiting.length === 0) return true;
    const { outbox, clock, auditFile, inputsDurable } = this.options;
    if (inputsDurable !== undefined && !inputsDurable()) return false;
    try {
      outbox.append(this.waiting, clock.now());
      if (auditFile !== undefined) audit(auditFile, this.waiting);
      this.waiting.length = 0;
    } catch (err) {
      // Kept in memory (up to pendingMax) and retried; a full disk must not crash the agent.
      this.failing = true;
      this.options.failed(err as Error, this.waiting.length);
      return false;
    }
    this.failing = false;
    this.options.committed();
    return true;
  }

  /** Commits every `flushMs` until stopped. */
  start(): void {
    this.timer = this.options.clock.setTimer(() => {
      this.flush();
      this.start();
    }, this.flushMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.options.clock.clearTimer(this.timer);
    this.timer = undefined;
  }
}

/** Appends `{id, revision, sha256}` per record, after its commit: what the outbox promised to deliver. */
function audit(file: string, records: readonly OutboxRecord[]): void {
  let lines = "";
  for (const r of records) {
    lines += `${JSON.stringify({ id: r.id, revision: r.revision, sha256: createHash("sha256").update(r.payload).digest("hex") })}\n`;
  }
  appendFileSync(file, lines);
}
