/**
 * The reading log: every message the agent takes in, and every tick of processing time,
 * appended in the order the engine sees them and group-committed at the end of the turn of
 * the event loop that appended them (log-segments.ts holds the files). A publisher's
 * acknowledgement waits for the commit that holds its message, so a reading acknowledged is
 * a reading on disk; after a crash the log is replayed from the last checkpoint with the
 * recorded times, and the engine ends where it was.
 *
 * Bounded: past `maxBytes` since the last checkpoint, or while a commit fails (a full disk),
 * it takes nothing more (`accepting` false: the agent then holds input, and the brokers and
 * sensors hold it for it), and says so once; at half the bound it asks for a checkpoint,
 * which truncates it.
 */
import type { Clock, TimerHandle } from "../../lib/clock.js";
import { die, faultAt } from "./faults.js";
import { type Logger, RateLimitedLog } from "./log.js";
import {
  type LoggedMessage,
  type LogPosition,
  type LogRecord,
  type ReadEnd,
  readLog,
  SegmentWriter,
} from "./log-segments.js";

/** While commits fail, try again this often. */
const RETRY_MS = 1_000;

export interface ReadingLogOptions {
  dir: string;
  maxBytes: number;
  /** sync every commit to the device (power cuts), not only to the OS (crashes) */
  sync: boolean;
  clock: Clock;
  logger: Logger;
  /** the log passed half its bound: a checkpoint would truncate it */
  wantsCheckpoint: () => void;
  /** it takes input again, after being full or failing */
  resumed: () => void;
  /** runs `fn` at the end of this turn of the event loop (default setImmediate) */
  defer?: (fn: () => void) => void;
  /** each commit: how long its oldest record waited for it (ms): what a crash could lose of QoS 0 */
  committed?: (waitedMs: number) => void;
}

export interface LogCounters {
  commits: number;
  records: number;
  bytes: number;
  /** commits that failed (each retried) */
  failedCommits: number;
  /** times the log stopped taking input, full or failing */
  backpressure: number;
}

export class ReadingLog {
  readonly counters: LogCounters = {
    commits: 0,
    records: 0,
    bytes: 0,
    failedCommits: 0,
    backpressure: 0,
  };
  private readonly writer: SegmentWriter;
  /** acknowledgements waiting for the next commit, in the order their messages came */
  private acks: (() => void)[] = [];
  private scheduled = false;
  /** performance.now() of the first record appended since the last commit */
  private firstPending = 0;
  /** bytes since the last checkpoint, committed or not */
  private bytes = 0;
  private failing = false;
  private held = false;
  private retry: TimerHandle | undefined;
  private readonly errors: RateLimitedLog;
  private readonly defer: (fn: () => void) => void;
  private readonly commitSoon = () => {
    this.scheduled = false;
    this.commit();
  };

  constructor(private readonly options: ReadingLogOptions) {
    this.writer = new SegmentWriter(options.dir, options.sync);
    this.errors = new RateLimitedLog((f, m) => options.logger.error(f, m), options.clock);
    this.defer = options.defer ?? setImmediate;
  }

  /** Whether it takes input now: not full, and its commits succeed. */
  get accepting(): boolean {
    return !this.failing && this.bytes < this.options.maxBytes;
  }

  /** bytes since the last checkpoint */
  get size(): number {
    return this.bytes;
  }

  /** Appends a message; returns its content checksum (CRC-32 of its topic and payload). */
  message(m: Omit<LoggedMessage, "kind">): number {
    const sum = this.writer.appendMessage(m);
    this.appended(this.writer.lastBytes);
    return sum;
  }

  tick(at: number): void {
    this.writer.appendTick(at);
    this.appended(this.writer.lastBytes);
  }

  /** Calls `fn` once everything appended so far is committed (at once, if it is). */
  afterCommit(fn: () => void): void {
    if (this.writer.pendingBytes === 0 && this.acks.length === 0) {
      fn();
      return;
    }
    this.acks.push(fn);
    this.schedule();
  }

  /** Commits what was appended; then releases the acknowledgements waiting for it. False when it failed. */
  commit(): boolean {
    if (this.writer.pendingBytes > 0) {
      const bytes = this.writer.pendingBytes;
      if (faultAt("commit")) {
        this.writer.writeTorn();
        die();
      }
      try {
        this.writer.commit();
      } catch (err) {
        this.counters.failedCommits++;
        this.errors.event(
          { err: (err as Error).message, pendingBytes: bytes, waiting: this.acks.length },
          "reading log commit failed: acknowledgements wait, input is held; retrying",
        );
        if (!this.failing) {
          this.failing = true;
          this.holdInput();
        }
        this.retry ??= this.options.clock.setTimer(() => {
          this.retry = undefined;
          this.commit();
        }, RETRY_MS);
        return false;
      }
      this.counters.commits++;
      this.counters.bytes += bytes;
      this.options.committed?.(performance.now() - this.firstPending);
    }
    // Only the acknowledgements of what this commit wrote: resuming the held input below
    // appends more, whose acknowledgements wait for the next commit.
    const acks = this.acks;
    this.acks = [];
    if (this.failing) {
      this.failing = false;
      this.options.logger.info("reading log commits again");
      this.resumeIfAccepting();
    }
    for (const ack of acks) ack();
    return true;
  }

  /** Starts a new segment for a checkpoint (after a commit): where its replay will start. */
  checkpointPosition(): LogPosition {
    return this.writer.roll();
  }

  /** The checkpoint at `position` is saved: what lies before it is not needed any more. */
  checkpointed(position: LogPosition): void {
    this.writer.deleteBefore(position.segment);
    this.bytes = this.writer.pendingBytes;
    this.resumeIfAccepting();
  }

  /** Replays the records from `from` (or from the oldest segment) on, in order. */
  replay(from: LogPosition | undefined, each: (record: LogRecord) => void): ReadEnd {
    return readLog(this.options.dir, from ?? { segment: 0, offset: 0 }, each);
  }

  close(): void {
    if (this.retry !== undefined) this.options.clock.clearTimer(this.retry);
    this.writer.close();
  }

  private appended(bytes: number): void {
    this.counters.records++;
    if (this.writer.pendingBytes === bytes) this.firstPending = performance.now();
    const half = this.options.maxBytes / 2;
    const before = this.bytes;
    this.bytes += bytes;
    if (before < half && this.bytes >= half) this.options.wantsCheckpoint();
    if (before < this.options.maxBytes && this.bytes >= this.options.maxBytes) this.holdInput();
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(this.commitSoon);
  }

  private holdInput(): void {
    if (this.held) return;
    this.held = true;
    this.counters.backpressure++;
    this.options.logger.warn(
      { bytes: this.bytes, maxBytes: this.options.maxBytes, failing: this.failing },
      "reading log full or failing: input is held (not acknowledged) until a checkpoint frees it",
    );
  }

  private resumeIfAccepting(): void {
    if (!this.held || !this.accepting) return;
    this.held = false;
    this.options.logger.info({ bytes: this.bytes }, "reading log takes input again");
    this.options.resumed();
  }
}
