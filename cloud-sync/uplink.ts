/**
 * Forwards outbox records to the cloud broker over one mqtt.js client at QoS 1.
 *
 * - Records go out N per message, as a JSON array (optionally gzip, marked by a
 *   `content-type: application/json+gzip` user property under MQTT 5, and by the gzip
 *   magic bytes under 3.1.1), one topic per message, highest priority first.
 * - A record leaves the outbox only after the PUBACK of its message. At most
 *   `maxInFlight` messages are unacknowledged at once.
 * - The link follows the state machine in link.ts; reconnects are ours (mqtt.js's own are
 *   off) with exponential backoff and full jitter. MQTT 5 first; a broker that refuses
 *   the protocol version gets 3.1.1 from then on.
 * - A retained `online` on the status topic at connect; the client's last will (set by
 *   the caller's connect options) and a clean stop leave a retained `offline`.
 *
 * After a disconnect, whatever was unacknowledged is sent again from the outbox (and
 * mqtt.js may resend its own copy too); after a restart the outbox is read again from the
 * start. The sink's upsert by id absorbs what arrives twice, and counts it.
 */
import { gzipSync } from "node:zlib";
import type { IClientPublishOptions, MqttClient } from "mqtt";
import { type Clock, systemClock } from "../lib/clock.js";
import {
  type BackoffOptions,
  backoffDelay,
  DEFAULT_BACKOFF,
  type LinkEvent,
  type LinkState,
  TokenBucket,
  transition,
} from "./link.js";
import type { Outbox, StoredRecord } from "./outbox.js";

export type { LinkState };

export const GZIP_CONTENT_TYPE = "application/json+gzip";

export interface UplinkOptions {
  outbox: Outbox;
  /** A client made with `reconnectPeriod: 0` and `manualConnect: true`: the uplink connects it. */
  client: MqttClient;
  /** retained `online`/`offline`; the caller sets the matching last will on the client */
  statusTopic?: string;
  /** records per message (default 100) */
  batchSize?: number;
  /** payload bytes per message before compression (default 256 KiB) */
  maxBatchBytes?: number;
  /** unacknowledged messages at once (default 16) */
  maxInFlight?: number;
  compress?: "gzip" | "none";
  /** bytes/s over the link (after compression); unlimited by default */
  bandwidthBytesPerSec?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
  random?: () => number;
  onStateChange?: (state: LinkState, previous: LinkState) => void;
  onError?: (err: Error) => void;
}

interface Batch {
  topic: string;
  seqs: number[];
  payload: Buffer;
}

export class Uplink {
  private readonly outbox: Outbox;
  private readonly client: MqttClient;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly batchSize: number;
  private readonly maxBatchBytes: number;
  private readonly maxInFlight: number;
  private readonly bucket: TokenBucket | undefined;
  /** seqs of records in unacknowledged messages (or acknowledged, not yet removed) */
  private readonly inFlight = new Set<number>();
  /**
   * By priority, the last seq up to which every record is in flight (or gone): peek reads on
   * from there, not through the records in flight again. Back to none whenever records
   * leave `inFlight` without being removed.
   */
  private sentUpTo: [number, number, number] = [-1, -1, -1];
  /** rewinds so far: a pump during which one happened does not move the cursor */
  private rewinds = 0;
  private inFlightMessages = 0;
  /** bumped at every disconnect: callbacks of an older connection no longer count as in flight */
  private generation = 0;
  private readonly acked: number[] = [];
  private ackFlushScheduled = false;
  private retryTimer: unknown;
  private pumpTimer: unknown;
  private attempt = 0;
  private stopped = false;
  private current: LinkState = "offline";
  private idleWaiters: (() => void)[] = [];
  /** records acknowledged by the broker since start */
  acknowledged = 0;
  /** messages published since start */
  messagesSent = 0;
  /** reconnect attempts since start */
  reconnects = 0;
  /** messages the broker refused or that failed before their PUBACK */
  publishFailures = 0;
  protocolVersion: 4 | 5;

  constructor(private readonly options: UplinkOptions) {
    this.outbox = options.outbox;
    this.client = options.client;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.batchSize = options.batchSize ?? 100;
    this.maxBatchBytes = options.maxBatchBytes ?? 256 * 1024;
    this.maxInFlight = options.maxInFlight ?? 16;
    this.protocolVersion = (this.client.options.protocolVersion as 4 | 5 | undefined) === 4 ? 4 : 5;
    this.bucket =
      options.bandwidthBytesPerSec === undefined
        ? undefined
        : new TokenBucket(
            options.bandwidthBytesPerSec,
            Math.max(options.bandwidthBytesPerSec, this.maxBatchBytes),
            this.clock.now(),
          );
    this.client.on("connect", () => this.onConnected());
    this.client.on("close", () => this.onClosed());
    this.client.on("error", (err) => this.onClientError(err));
  }

  get state(): LinkState {
    return this.current;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  start(): void {
    this.event("connect");
    this.client.connect();
  }

  /** Call after appending to the outbox. */
  kick(): void {
    if (this.client.connected && !this.stopped) {
      if (this.current === "live") this.event("backlog");
      this.pump();
    }
  }

  /** Resolves once nothing is in flight and the outbox is empty, or after `timeoutMs`. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        this.clock.clearTimer(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  /** Leaves a retained `offline` (when connected) and disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimer(this.retryTimer);
    this.clock.clearTimer(this.pumpTimer);
    this.flushAcks();
    if (this.client.connected && this.options.statusTopic !== undefined) {
      // Waits for the PUBACK at most a second: the last will says "offline" anyway.
      const sent = this.client
        .publishAsync(this.options.statusTopic, "offline", { qos: 1, retain: true })
        .catch(() => undefined);
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimer(resolve, 1_000);
        void sent.then(() => {
          this.clock.clearTimer(timer);
          resolve();
        });
      });
    }
    await this.client.endAsync(true).catch(() => undefined);
    this.event("disconnected");
  }

  private onConnected(): void {
    this.attempt = 0;
    this.event("connected");
    if (this.options.statusTopic !== undefined) {
      this.client.publish(this.options.statusTopic, "online", { qos: 1, retain: true });
    }
    this.pump();
  }

  private onClosed(): void {
    // Whatever was in flight may never be acknowledged now (the broker may have lost its
    // session): it is sent again after the reconnect. A late PUBACK still removes it.
    this.generation++;
    this.inFlight.clear();
    this.rewind();
    this.inFlightMessages = 0;
    this.event(this.current === "connecting" ? "failed" : "disconnected");
    if (this.stopped) return;
    this.clock.clearTimer(this.retryTimer);
    const delay = backoffDelay(
      this.attempt++,
      this.random,
      this.options.backoff ?? DEFAULT_BACKOFF,
    );
    this.retryTimer = this.clock.setTimer(() => {
      if (this.stopped) return;
      this.reconnects++;
      this.event("connect");
      this.client.reconnect();
    }, delay);
  }

  private onClientError(err: Error): void {
    const code = (err as { code?: unknown }).code;
    // 1 (3.1.1) and 132 (MQTT 5): unacceptable protocol version — fall back to 3.1.1.
    if ((code === 1 || code === 132) && this.protocolVersion === 5) {
      this.protocolVersion = 4;
      this.client.options.protocolVersion = 4;
      this.attempt = 0; // not the broker's fault: retry at once
      this.options.onError?.(new Error("the cloud broker refused MQTT 5; using MQTT 3.1.1"));
      return;
    }
    this.options.onError?.(err);
  }

  private isIdle(): boolean {
    return this.inFlight.size === 0 && this.outbox.depth() === 0;
  }

  private pump(): void {
    if (this.stopped || !this.client.connected) return;
    let room = this.maxInFlight - this.inFlightMessages;
    if (room > 0) {
      const rows = this.outbox.peek(room * this.batchSize, this.inFlight, this.sentUpTo);
      const rewinds = this.rewinds;
      for (const batch of this.batches(rows)) {
        if (room === 0) break;
        const wait = this.bucket?.take(batch.payload.length, this.clock.now()) ?? 0;
        if (wait > 0) {
          this.clock.clearTimer(this.pumpTimer);
          this.pumpTimer = this.clock.setTimer(() => this.pump(), wait);
          break;
        }
        this.publish(batch);
        room--;
      }
      // A publish that failed at once took records out of flight: they are to be read again.
      if (this.rewinds === rewinds) this.advanceCursor(rows);
    }
    if (this.outbox.depth() === 0 && this.inFlight.size === 0) this.event("drained");
  }

  /**
   * `rows` as peeked (in send order from the cursor): each priority's cursor moves over
   * those now in flight, up to the first that is not (batches by topic go out of seq order).
   */
  private advanceCursor(rows: readonly StoredRecord[]): void {
    const stopped = [false, false, false];
    for (const r of rows) {
      if (stopped[r.priority]) continue;
      if (this.inFlight.has(r.seq)) this.sentUpTo[r.priority] = r.seq;
      else stopped[r.priority] = true;
    }
  }

  /** Records left `inFlight` without being removed: they are to be read again. */
  private rewind(): void {
    this.rewinds++;
    this.sentUpTo = [-1, -1, -1];
  }

  /** Consecutive records grouped by topic, up to batchSize records and maxBatchBytes each. */
  private batches(rows: readonly StoredRecord[]): Batch[] {
    const open = new Map<string, { rows: StoredRecord[]; bytes: number }>();
    const out: { topic: string; rows: StoredRecord[] }[] = [];
    for (const r of rows) {
      let group = open.get(r.topic);
      if (
        group === undefined ||
        group.rows.length >= this.batchSize ||
        group.bytes + r.payload.length + 1 > this.maxBatchBytes
      ) {
        // "[" and "]" count too; a single record over maxBatchBytes still goes, alone.
        group = { rows: [], bytes: 1 };
        open.set(r.topic, group);
        out.push({ topic: r.topic, rows: group.rows });
      }
      group.rows.push(r);
      group.bytes += r.payload.length + 1;
    }
    return out.map(({ topic, rows: group }) => {
      const parts: Buffer[] = [OPEN];
      group.forEach((r, i) => {
        if (i > 0) parts.push(COMMA);
        parts.push(r.payload);
      });
      parts.push(CLOSE);
      const json = Buffer.concat(parts);
      return {
        topic,
        seqs: group.map((r) => r.seq),
        payload: this.options.compress === "gzip" ? gzipSync(json) : json,
      };
    });
  }

  private publish(batch: Batch): void {
    for (const seq of batch.seqs) this.inFlight.add(seq);
    this.inFlightMessages++;
    this.messagesSent++;
    const opts: IClientPublishOptions = { qos: 1 };
    if (this.options.compress === "gzip" && this.protocolVersion === 5) {
      opts.properties = { userProperties: { "content-type": GZIP_CONTENT_TYPE } };
    }
    const generation = this.generation;
    this.client.publish(batch.topic, batch.payload, opts, (err) =>
      this.onPublished(generation, batch.seqs, err),
    );
  }

  private onPublished(
    generation: number,
    seqs: readonly number[],
    err: Error | null | undefined,
  ): void {
    const current = generation === this.generation;
    if (current) this.inFlightMessages--;
    if (err) {
      if (!current) return;
      // Not acknowledged (the client was ended, or the broker refused the message): the
      // records stay, and are sent again after a pause rather than in a tight loop.
      for (const seq of seqs) this.inFlight.delete(seq);
      this.rewind();
      this.publishFailures++;
      if (!this.stopped)
        this.options.onError?.(
          new Error(`publish of ${seqs.length} results failed: ${err.message}`),
        );
      this.clock.clearTimer(this.pumpTimer);
      this.pumpTimer = this.clock.setTimer(() => this.pump(), 1_000);
      return;
    }
    this.acknowledged += seqs.length;
    this.acked.push(...seqs);
    if (!this.ackFlushScheduled) {
      this.ackFlushScheduled = true;
      setImmediate(() => {
        this.flushAcks();
        this.pump();
      });
    }
  }

  private flushAcks(): void {
    this.ackFlushScheduled = false;
    if (this.acked.length === 0) return;
    const seqs = this.acked.splice(0);
    try {
      this.outbox.remove(seqs);
    } catch (err) {
      this.rewind();
      this.options.onError?.(err as Error);
    }
    for (const seq of seqs) this.inFlight.delete(seq);
    if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
  }

  private event(e: LinkEvent): void {
    const next = transition(this.current, e);
    if (next === this.current) return;
    const previous = this.current;
    this.current = next;
    this.options.onStateChange?.(next, previous);
  }
}

const OPEN = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE = Buffer.from("]");
