/**
 * The embedded broker's limits on what a client may send: the size of each MQTT packet,
 * enforced as its bytes are read, before aedes parses (and buffers) it — from its fixed
 * header (a byte of type and flags, then the remaining length in 1–4 bytes of 7 bits), so
 * an oversized packet is refused when its header arrives, not once it is whole — and each
 * client's publish rate.
 */
import type { Aedes } from "aedes";
import { TokenBucket } from "../../cloud-sync/link.js";

/** Follows the packet boundaries of one connection's byte stream, chunk by chunk. */
export class PacketSizeGuard {
  /** bytes of the current packet still to come after its header */
  private rest = 0;
  /** where the current header is: 0 type byte, 1–4 length bytes read so far */
  private headerAt = 0;
  private length = 0;
  private multiplier = 1;

  constructor(private readonly maxPacketBytes: number) {}

  /** Reads a chunk; false when a packet in it is larger than the limit (or malformed). */
  feed(chunk: Buffer): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.rest > 0) {
        const take = Math.min(this.rest, chunk.length - i);
        this.rest -= take;
        i += take;
        continue;
      }
      const byte = chunk[i++] as number;
      if (this.headerAt === 0) {
        this.headerAt = 1;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (byte & 0x80) {
        // More than 4 length bytes is not MQTT.
        if (++this.headerAt > 4) return false;
        continue;
      }
      if (this.length > this.maxPacketBytes) return false;
      this.rest = this.length;
      this.headerAt = 0;
    }
    return true;
  }
}

/**
 * Each client's publish rate: a token bucket of `perSecond` messages (a second's worth of
 * burst). A client over it is slowed down — its message waits, and with it its connection's
 * next read — never dropped.
 */
export class PublishRate {
  private readonly buckets = new WeakMap<object, TokenBucket>();

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {}

  /** How long (ms) this client's next message must wait; 0: none. */
  wait(client: object): number {
    const now = this.now();
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.perSecond, Math.max(1, this.perSecond), now);
      this.buckets.set(client, bucket);
    }
    return bucket.take(1, now);
  }
}

/** What the broker keeps in memory for others, at most, in payload bytes; beyond it a message is not kept (counted). */
export interface KeptLimits {
  /** messages queued for persistent subscribers (offline, or not yet acknowledging), all together */
  maxQueuedBytes: number;
  /** retained messages, all together */
  maxRetainedBytes: number;
  dropped: (reason: "queue_full" | "retained_full") => void;
}

interface Kept {
  readonly payload: Buffer | string;
}

/**
 * Bounds what aedes' in-memory persistence keeps, which is otherwise unbounded: a client
 * could fill the memory with retained messages on many topics, or a persistent subscriber
 * that never comes back with a queue. A retained message beyond the bound is routed but
 * not retained; a delivery beyond it is not queued (a persistent subscriber that is away
 * misses it; one that is connected gets it, unqueued). Both are counted.
 */
export function limitPersistence(aedes: Aedes, limits: KeptLimits): void {
  const p = (aedes as unknown as { persistence: unknown }).persistence as Record<
    string,
    (...args: never[]) => Promise<unknown>
  >;
  const size = (packet: Kept) =>
    typeof packet.payload === "string" ? Buffer.byteLength(packet.payload) : packet.payload.length;
  const retained = new Map<string, number>();
  let retainedBytes = 0;
  const storeRetained = p.storeRetained?.bind(p) as (
    packet: Kept & { topic: string },
  ) => Promise<void>;
  p.storeRetained = (async (packet: Kept & { topic: string }) => {
    const bytes = size(packet);
    const before = retained.get(packet.topic) ?? 0;
    if (bytes > 0 && retainedBytes - before + bytes > limits.maxRetainedBytes) {
      limits.dropped("retained_full");
      return;
    }
    await storeRetained(packet);
    retainedBytes += bytes - before;
    if (bytes === 0) retained.delete(packet.topic);
    else retained.set(packet.topic, bytes);
  }) as never;
  let queuedBytes = 0;
  const enqueueCombi = p.outgoingEnqueueCombi?.bind(p) as (
    subs: { clientId: string }[],
    packet: Kept,
  ) => Promise<void>;
  const enqueue = p.outgoingEnqueue?.bind(p) as (
    sub: { clientId: string },
    packet: Kept,
  ) => Promise<void>;
  const clear = p.outgoingClearMessageId?.bind(p) as (
    client: unknown,
    packet: unknown,
  ) => Promise<Kept | undefined>;
  /** The subscribers it still fits for, counted in. */
  const fitting = (subs: { clientId: string }[], packet: Kept) => {
    const bytes = size(packet);
    const fit = Math.max(
      0,
      Math.min(subs.length, Math.floor((limits.maxQueuedBytes - queuedBytes) / Math.max(bytes, 1))),
    );
    for (let i = fit; i < subs.length; i++) limits.dropped("queue_full");
    queuedBytes += fit * bytes;
    return subs.slice(0, fit);
  };
  p.outgoingEnqueueCombi = (async (subs: { clientId: string }[], packet: Kept) => {
    const fit = fitting(subs, packet);
    if (fit.length > 0) await enqueueCombi(fit, packet);
  }) as never;
  p.outgoingEnqueue = (async (sub: { clientId: string }, packet: Kept) => {
    if (fitting([sub], packet).length > 0) await enqueue(sub, packet);
  }) as never;
  p.outgoingClearMessageId = (async (client: unknown, packet: unknown) => {
    const cleared = await clear(client, packet);
    if (cleared !== undefined && cleared !== null)
      queuedBytes = Math.max(0, queuedBytes - size(cleared));
    return cleared;
  }) as never;
}
