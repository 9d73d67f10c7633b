/**
 * The embedded broker's limits on what a client may send: the size of each MQTT packet,
 * enforced as its bytes are read, before aedes parses (and buffers) it — from its fixed
 * header (a byte of type and flags, then the remaining length in 1–4 bytes of 7 bits), so
 * an oversized packet is refused when its header arrives, not once it is whole — and each
 * client's publish rate.
 */
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
