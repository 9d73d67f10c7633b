/**
 * The stage between the edge broker and the pipeline that keeps the agent's promise: a
 * message acknowledged is a message on disk. Each message taken in is appended to the
 * reading log with its processing time, then processed; its publisher's acknowledgement
 * (`release`) waits for the commit that holds it (QoS 1), so a crash never loses a reading
 * the agent acknowledged: the log is replayed at the next start. Before that:
 * - a redelivery of a QoS 1 message already taken is acknowledged, not taken again (one
 *   that came while its original waited: when they are taken);
 * - while the log takes nothing (full, or its disk failing), messages wait here unprocessed
 *   and unacknowledged, and their publishers' connections with them (backpressure).
 * With the log off, messages go straight through, acknowledged as they come (as MQTT does).
 */
import { type Clock, eventNow } from "../../lib/clock.js";
import type { LogRecord, ReadEnd } from "./log-segments.js";
import type { AgentCounters } from "./metrics.js";
import type { Pipeline } from "./pipeline.js";
import type { ReadingLog } from "./reading-log.js";
import { contentSum, type Redeliveries } from "./redelivery.js";

/** What the edge knows of a message beside its topic and payload. */
export interface MessageMeta {
  readonly qos: number;
  /** the MQTT DUP flag: its publisher sends it again */
  readonly dup: boolean;
  /**
   * Set on the first messages of a publisher's new connection (until one is not a
   * redelivery): publishers such as mqtt.js send unacknowledged messages again without DUP.
   * `acksLostSince`: from when its PUBACKs may not have reached it (its previous connection
   * broke); undefined: since the agent's previous run ended.
   */
  readonly firstOnConnection?: { readonly acksLostSince: number | undefined };
  /** the publisher's MQTT client id; "" for a message published inside the agent */
  readonly client: string;
  /** the packet id (0 for none) */
  readonly mid: number;
}

interface Waiting {
  readonly topic: string;
  readonly payload: Buffer;
  readonly meta: MessageMeta;
  readonly release: (() => void) | undefined;
}

/** PUBACKs released this long before a run ended (a crash or a stop) may not have left. */
const ACKS_LOST_MS = 2_000;
/**
 * Payload bytes of QoS 0 messages that may wait for the log: beyond, they are lost (counted,
 * their windows emitted partial). QoS 1 waits are bounded by their publishers: each waits
 * for its PUBACK (the embedded broker reads no more from it; a broker's in-flight limit).
 */
export const MAX_HELD_QOS0_BYTES = 16 * 1024 * 1024;

export class DurableInput {
  private readonly waiting: Waiting[] = [];
  /** payload bytes of the QoS 0 messages waiting */
  private heldQos0Bytes = 0;
  /** QoS 0 messages were lost while the log held input: windows to mark partial when it resumes */
  private lostWhileHeld = false;
  /** when the agent's previous run ended (see recovery.ts) */
  private previousRunEnded: number | undefined;
  private qos0 = false;
  /** the processing time of the latest message or tick taken or replayed */
  private latest = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly log: ReadingLog | undefined,
    private readonly redeliveries: Redeliveries,
    private readonly counters: AgentCounters,
    /** processing time (steady), and the time event times are judged against (lib/clock.ts) */
    private readonly clock: Clock,
    /** how far past its arrival a reading may be stamped (config maxFuture) */
    private readonly maxFutureMs: number,
  ) {}

  /** Whether QoS 0 readings were taken since start (a crash may lose the last turn's). */
  get tookQos0(): boolean {
    return this.qos0;
  }

  /** The processing time of the latest message or tick taken or replayed (after a crash: about when it happened). */
  get latestAt(): number {
    return this.latest;
  }

  /** Recovery says when the previous run ended: acknowledgements released before then may be lost. */
  set previousRunEnd(at: number) {
    this.previousRunEnded = at;
    this.redeliveries.pin(undefined, at - ACKS_LOST_MS);
  }

  /** A publisher's connection broke: what it may send again is kept until it does. */
  connectionBroke(client: string, since: number): void {
    this.redeliveries.pin(client, since);
  }

  /** messages held while the log takes nothing */
  get held(): number {
    return this.waiting.length;
  }

  /**
   * A message from the edge broker. `release` lets its publisher's acknowledgement go
   * (undefined: there is none to give); it is called once the message is durable, or at
   * once for QoS 0. What processing throws is thrown on, after `release` is arranged.
   * Returns whether it was a redelivery of a message already taken.
   */
  message(topic: string, payload: Buffer, meta: MessageMeta, release?: () => void): boolean {
    const log = this.log;
    if (log === undefined) {
      if (meta.qos === 0) this.qos0 = true;
      try {
        const at = this.clock.now();
        this.pipeline.process(topic, payload, at, eventNow(this.clock, at), true, meta.qos === 0);
      } finally {
        release?.();
      }
      return false;
    }
    if (this.isRedelivery(topic, payload, meta)) {
      this.counters.redelivered++;
      // The original may still wait for its commit: so does this acknowledgement.
      if (release !== undefined) log.afterCommit(release);
      return true;
    }
    if (this.waiting.length > 0 || !log.accepting) {
      if (meta.qos === 0) {
        if (this.heldQos0Bytes + payload.length > MAX_HELD_QOS0_BYTES) {
          this.counters.lost.held_overflow++;
          this.lostWhileHeld = true;
          release?.();
          return false;
        }
        this.heldQos0Bytes += payload.length;
      }
      this.waiting.push({ topic, payload, meta, release });
    } else this.take(log, topic, payload, meta, release);
    return false;
  }

  private isRedelivery(topic: string, payload: Buffer, meta: MessageMeta): boolean {
    if (meta.qos === 0 || meta.mid === 0) return false;
    const { client, mid } = meta;
    if (meta.dup) return this.redeliveries.isRedelivery(client, mid, topic, payload);
    if (meta.firstOnConnection === undefined) return false;
    const since =
      meta.firstOnConnection.acksLostSince ??
      (this.previousRunEnded === undefined ? undefined : this.previousRunEnded - ACKS_LOST_MS);
    // Without DUP, the same packet id and content may also be a new reading (a sensor that
    // woke from deep sleep, its packet ids started again, its value unchanged): only a
    // reading that carries its own time is the same reading when its content is the same.
    return (
      since !== undefined &&
      this.redeliveries.isRedelivery(client, mid, topic, payload, since) &&
      this.pipeline.carriesTime(topic, payload, eventNow(this.clock))
    );
  }

  /** Processing time moved on; logged first, so a replay ticks at the same place. */
  tick(now: number): void {
    this.latest = now;
    this.log?.tick(now);
    this.pipeline.tick(now);
  }

  /** The log takes input again: what waited is taken, in order, while it can. */
  resume(): void {
    const log = this.log;
    if (log === undefined) return;
    if (this.lostWhileHeld) {
      // Readings of any key, stamped up to now and maxFuture after, may be among those lost.
      this.lostWhileHeld = false;
      this.pipeline.markLossyWindowsPartial(eventNow(this.clock) + this.maxFutureMs, true);
    }
    while (this.waiting.length > 0 && log.accepting) {
      const w = this.waiting.shift() as Waiting;
      if (w.meta.qos === 0) this.heldQos0Bytes -= w.payload.length;
      // Its publisher may have sent it again while it waited (a new connection): the first
      // of the two taken, the other is a redelivery now.
      if (this.isRedelivery(w.topic, w.payload, w.meta)) {
        this.counters.redelivered++;
        if (w.release !== undefined) log.afterCommit(w.release);
        continue;
      }
      try {
        this.take(log, w.topic, w.payload, w.meta, w.release);
      } catch {
        // A bug in processing one message: it is released (above) and the rest go on; the
        // live path counts these through the edge, here they are counted the same way.
        this.counters.processingErrors++;
      }
    }
  }

  /**
   * Replays the records `read` gives (the log from a checkpoint on) into the pipeline, with
   * the recorded processing times, as the engine first saw them. `failed` gets what
   * processing a record throws (a bug).
   */
  replay(
    read: (each: (record: LogRecord) => void) => ReadEnd,
    failed: (err: unknown, topic: string) => void,
  ): ReadEnd {
    return read((record: LogRecord) => {
      this.latest = record.at;
      if (record.kind === "tick") {
        this.pipeline.tick(record.at);
        return;
      }
      this.remember(record.qos, record.client, record.mid, () =>
        contentSum(record.topic, record.payload),
      );
      try {
        this.pipeline.process(
          record.topic,
          record.payload,
          record.at,
          record.eventAt,
          false,
          record.qos === 0,
        );
      } catch (err) {
        failed(err, record.topic);
      }
    });
  }

  /**
   * At a stop: the messages that waited and were never taken are not acknowledged (QoS 1
   * ones come again); QoS 0 ones are lost (counted), and the windows they may belong to,
   * of every key, are marked to be emitted partial.
   */
  dropWaiting(): { qos0: number; qos1: number } {
    const qos0 = this.waiting.filter((w) => w.meta.qos === 0).length;
    const dropped = { qos0, qos1: this.waiting.length - qos0 };
    this.waiting.length = 0;
    this.heldQos0Bytes = 0;
    this.counters.lost.held_at_stop += qos0;
    if (qos0 > 0 || this.lostWhileHeld) {
      this.lostWhileHeld = false;
      this.pipeline.markLossyWindowsPartial(eventNow(this.clock) + this.maxFutureMs, true);
    }
    return dropped;
  }

  private take(
    log: ReadingLog,
    topic: string,
    payload: Buffer,
    meta: MessageMeta,
    release: (() => void) | undefined,
  ): void {
    const at = this.clock.now();
    const eventAt = eventNow(this.clock, at);
    this.latest = at;
    const sum = log.message({
      at,
      eventAt,
      qos: meta.qos,
      dup: meta.dup,
      client: meta.client,
      mid: meta.mid,
      topic,
      payload,
    });
    this.remember(meta.qos, meta.client, meta.mid, sum);
    try {
      this.pipeline.process(topic, payload, at, eventAt, true, meta.qos === 0);
    } finally {
      if (release !== undefined) {
        if (meta.qos === 0) release();
        else log.afterCommit(release);
      }
    }
  }

  /** What a crash would need to know of a message taken: QoS 0 traffic, and QoS 1 packets that may come again. */
  private remember(qos: number, client: string, mid: number, sum: number | (() => number)): void {
    if (qos === 0) this.qos0 = true;
    else if (mid !== 0)
      this.redeliveries.taken(client, mid, this.latest, typeof sum === "number" ? sum : sum());
  }
}
