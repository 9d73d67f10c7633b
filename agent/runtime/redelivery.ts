/**
 * Redeliveries of QoS 1 messages the agent already took. A publisher that did not see its
 * PUBACK (the agent crashed after the commit that held the message, before the PUBACK left,
 * or the connection broke) sends the message again; processing it twice would count it
 * twice. Here the last `capacity` QoS 1 messages taken are remembered by (publisher,
 * packet id, when, checksum of topic and payload); a message that matches the latest one
 * of its publisher and packet id is a redelivery when it says so (DUP), or when it comes
 * first on a new connection (mqtt.js, among others, sends again without DUP) and the one
 * it matches was taken late enough that its PUBACK may have been lost. The memory is kept
 * in the checkpoint and rebuilt by replaying the log, so it survives the crash it is for.
 */
import { crc32 } from "node:zlib";

/** What the checkpoint keeps. */
export interface RedeliverySnapshot {
  keys: (string | undefined)[];
  at: Float64Array;
  sum: Uint32Array;
  next: number;
}

export class Redeliveries {
  /** per slot: publisher NUL packet id */
  private readonly keys: (string | undefined)[];
  private readonly at: Float64Array;
  private readonly sum: Uint32Array;
  private next = 0;
  /** publisher NUL packet id → the slot of the latest message under it */
  private readonly latest = new Map<string, number>();

  constructor(private readonly capacity = 16_384) {
    this.keys = new Array(capacity).fill(undefined);
    this.at = new Float64Array(capacity);
    this.sum = new Uint32Array(capacity);
  }

  /** Remembers a QoS 1 message taken at `at` (publisher `client`, packet id `mid`). */
  taken(client: string, mid: number, at: number, topic: string, payload: Buffer): void {
    const i = this.next;
    const old = this.keys[i];
    if (old !== undefined && this.latest.get(old) === i) this.latest.delete(old);
    const key = `${client}\u0000${mid}`;
    this.keys[i] = key;
    this.at[i] = at;
    this.sum[i] = checksum(topic, payload);
    this.latest.set(key, i);
    this.next = (i + 1) % this.capacity;
  }

  /**
   * Whether a message is one already taken: the latest under its publisher and packet id,
   * with the same content, taken at `since` or later.
   */
  isRedelivery(
    client: string,
    mid: number,
    topic: string,
    payload: Buffer,
    since = Number.NEGATIVE_INFINITY,
  ): boolean {
    const i = this.latest.get(`${client}\u0000${mid}`);
    return (
      i !== undefined && (this.at[i] as number) >= since && this.sum[i] === checksum(topic, payload)
    );
  }

  snapshot(): RedeliverySnapshot {
    return { keys: [...this.keys], at: this.at.slice(), sum: this.sum.slice(), next: this.next };
  }

  restore(s: RedeliverySnapshot): void {
    if (s.keys.length !== this.capacity) return; // another capacity: start empty
    this.latest.clear();
    for (let k = 0; k < this.capacity; k++) {
      // Oldest first, so the latest under a key wins.
      const i = (s.next + k) % this.capacity;
      const key = s.keys[i];
      this.keys[i] = key;
      if (key !== undefined) this.latest.set(key, i);
    }
    this.at.set(s.at);
    this.sum.set(s.sum);
    this.next = s.next;
  }
}

function checksum(topic: string, payload: Buffer): number {
  return crc32(payload, crc32(topic));
}
