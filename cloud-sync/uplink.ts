/**
 * Forwards outbox records to the cloud broker over an injected mqtt.js client at QoS 1.
 * A record leaves the outbox only after its PUBACK. At most `maxInFlight` records are
 * unacknowledged at once; mqtt.js keeps those in its own store across reconnects and
 * resends them, so they are not published twice by us. On a restart the outbox is read
 * again from the start, which may resend what was in flight: the sink's upsert by id
 * absorbs such duplicates.
 */
import type { MqttClient } from "mqtt";
import type { Outbox } from "./outbox.js";

export type LinkState = "offline" | "connecting" | "draining" | "live";

export interface UplinkOptions {
  outbox: Outbox;
  client: MqttClient;
  maxInFlight?: number;
  onStateChange?: (state: LinkState, previous: LinkState) => void;
  onError?: (err: Error) => void;
}

export class Uplink {
  private readonly outbox: Outbox;
  private readonly client: MqttClient;
  private readonly maxInFlight: number;
  private readonly inFlight = new Set<number>();
  private readonly acked: number[] = [];
  private ackFlushScheduled = false;
  private stopped = false;
  private current: LinkState = "connecting";
  private idleWaiters: (() => void)[] = [];
  sent = 0;
  acknowledged = 0;

  constructor(private readonly options: UplinkOptions) {
    this.outbox = options.outbox;
    this.client = options.client;
    this.maxInFlight = options.maxInFlight ?? 256;
    this.client.on("connect", () => this.pump());
    this.client.on("close", () => this.setState("offline"));
    this.client.on("reconnect", () => this.setState("connecting"));
    this.client.on("error", (err) => options.onError?.(err));
    if (this.client.connected) this.pump();
  }

  get state(): LinkState {
    return this.current;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Call after appending to the outbox. */
  kick(): void {
    if (this.client.connected && !this.stopped) this.pump();
  }

  /** Resolves once nothing is in flight and the outbox is empty, or after `timeoutMs`. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.flushAcks();
    await this.client.endAsync(true).catch(() => undefined);
    this.setState("offline");
  }

  private isIdle(): boolean {
    return this.inFlight.size === 0 && this.outbox.depth() === 0;
  }

  private pump(): void {
    if (this.stopped || !this.client.connected) return;
    const room = this.maxInFlight - this.inFlight.size;
    if (room > 0) {
      for (const record of this.outbox.peek(room, this.inFlight)) {
        const seq = record.seq;
        this.inFlight.add(seq);
        this.sent++;
        this.client.publish(record.topic, record.payload, { qos: 1 }, (err) =>
          this.onPublished(seq, err),
        );
      }
    }
    this.setState(this.outbox.depth() > 0 ? "draining" : "live");
  }

  private onPublished(seq: number, err: Error | null | undefined): void {
    if (err) {
      // Not acknowledged (the client was ended): the row stays and is sent again later.
      this.inFlight.delete(seq);
      return;
    }
    this.acknowledged++;
    this.acked.push(seq);
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
      this.options.onError?.(err as Error);
    }
    for (const seq of seqs) this.inFlight.delete(seq);
    if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
  }

  private setState(next: LinkState): void {
    if (next === this.current) return;
    const previous = this.current;
    this.current = next;
    this.options.onStateChange?.(next, previous);
  }
}
