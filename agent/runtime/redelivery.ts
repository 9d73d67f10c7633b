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
 *
 * Remembering costs a few typed-array writes per message; the index that finds the latest
 * message under a publisher and packet id is brought up to date only when asked (rarely:
 * after reconnects), from the entries added since.
 *
 * The memory is shared by all publishers, so at high rates it spans little time (16,384
 * messages: 0.3 s at 60,000/s). What a redelivery needs is kept apart when it is known to be
 * needed: when a publisher's connection breaks, its messages since acknowledgements may have
 * been lost are pinned, and after a crash everyone's of its last moments, until a newer
 * message under the same packet id replaces them (at most MAX_PINNED in all).
 */
import { crc32 } from "node:zlib";

/** What the checkpoint keeps. */
export interface RedeliverySnapshot {
  clients: (string | undefined)[];
  mid: Uint16Array;
  at: Float64Array;
  sum: Uint32Array;
  /** entries taken since the start (the slot of entry n is n % capacity) */
  count: number;
}

/** The checksum of a message's content, as the reading log computes it. */
export function contentSum(topic: string, payload: Buffer): number {
  return crc32(payload, crc32(topic));
}

/** Entries pinned at most, all publishers together (the oldest publishers' go first). */
const MAX_PINNED = 65_536;
/** `toPin`'s key for every publisher (no client id has a NUL) */
const ALL = "\u0000";

interface Pinned {
  readonly at: number;
  readonly sum: number;
}

export class Redeliveries {
  /** publisher → packet id → its latest message, pinned (see above) */
  private readonly pinned = new Map<string, Map<number, Pinned>>();
  private pinnedCount = 0;
  /** publisher (ALL: every one) → since when, to pin before the next message is taken */
  private readonly toPin = new Map<string, number>();
  private readonly clients: (string | undefined)[];
  private readonly mid: Uint16Array;
  private readonly at: Float64Array;
  private readonly sum: Uint32Array;
  /** entries taken since the start */
  private count = 0;
  /** publisher NUL packet id → the entry number of the latest message under it */
  private readonly latest = new Map<string, number>();
  /** entries below this number are in `latest` */
  private indexed = 0;

  constructor(private readonly capacity = 16_384) {
    this.clients = new Array(capacity).fill(undefined);
    this.mid = new Uint16Array(capacity);
    this.at = new Float64Array(capacity);
    this.sum = new Uint32Array(capacity);
  }

  /** Remembers a QoS 1 message taken at `at`, with its content checksum (contentSum). */
  taken(client: string, mid: number, at: number, sum: number): void {
    if (this.toPin.size > 0) this.pinNow(); // before this entry can push one out
    const i = this.count % this.capacity;
    this.clients[i] = client;
    this.mid[i] = mid;
    this.at[i] = at;
    this.sum[i] = sum;
    this.count++;
    if (this.pinnedCount > 0) {
      const mine = this.pinned.get(client);
      if (mine?.delete(mid) === true) this.pinnedCount--;
    }
  }

  /**
   * Keeps apart the latest message under each packet id of `client` (of every publisher,
   * when undefined) taken at `since` or later: traffic after this does not push them out.
   * Done before the next message is taken, for every publisher asked for by then at once.
   */
  pin(client: string | undefined, since: number): void {
    const key = client ?? ALL;
    this.toPin.set(key, Math.min(since, this.toPin.get(key) ?? since));
  }

  private pinNow(): void {
    const toPin = this.toPin;
    const all = toPin.get(ALL);
    let earliest = Number.POSITIVE_INFINITY;
    for (const since of toPin.values()) earliest = Math.min(earliest, since);
    const seen = new Set<string>();
    for (let n = this.count - 1; n >= Math.max(0, this.count - this.capacity); n--) {
      const i = n % this.capacity;
      const at = this.at[i] as number;
      if (at < earliest) break; // taken in time order
      const c = this.clients[i] as string;
      if (at < Math.min(all ?? Number.POSITIVE_INFINITY, toPin.get(c) ?? Number.POSITIVE_INFINITY))
        continue;
      const key = `${c}\u0000${this.mid[i]}`;
      if (seen.has(key)) continue; // an older one under the same id
      seen.add(key);
      let mine = this.pinned.get(c);
      if (mine === undefined) {
        mine = new Map();
        this.pinned.set(c, mine);
      }
      if (!mine.has(this.mid[i] as number)) this.pinnedCount++;
      mine.set(this.mid[i] as number, { at: this.at[i] as number, sum: this.sum[i] as number });
    }
    toPin.clear();
    while (this.pinnedCount > MAX_PINNED) {
      const [oldest, entries] = this.pinned.entries().next().value as [string, Map<number, Pinned>];
      this.pinned.delete(oldest);
      this.pinnedCount -= entries.size;
    }
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
    if (this.toPin.size > 0) this.pinNow();
    this.index();
    const n = this.latest.get(`${client}\u0000${mid}`);
    let entry: Pinned | undefined;
    if (n !== undefined && n >= this.count - this.capacity) {
      const i = n % this.capacity;
      entry = { at: this.at[i] as number, sum: this.sum[i] as number };
    } else entry = this.pinned.get(client)?.get(mid); // forgotten since, unless pinned
    return entry !== undefined && entry.at >= since && entry.sum === contentSum(topic, payload);
  }

  snapshot(): RedeliverySnapshot {
    return {
      clients: [...this.clients],
      mid: this.mid.slice(),
      at: this.at.slice(),
      sum: this.sum.slice(),
      count: this.count,
    };
  }

  restore(s: RedeliverySnapshot): void {
    if (s.clients.length !== this.capacity) return; // another capacity: start empty
    s.clients.forEach((c, i) => {
      this.clients[i] = c;
    });
    this.mid.set(s.mid);
    this.at.set(s.at);
    this.sum.set(s.sum);
    this.count = s.count;
    this.latest.clear();
    this.indexed = 0;
  }

  /** Adds the entries taken since the last lookup to the index (all that are still kept, if more). */
  private index(): void {
    const from = Math.max(this.indexed, this.count - this.capacity);
    if (from > this.indexed) this.latest.clear(); // more than the capacity since: start afresh
    for (let n = from; n < this.count; n++) {
      const i = n % this.capacity;
      this.latest.set(`${this.clients[i]}\u0000${this.mid[i]}`, n);
    }
    this.indexed = this.count;
    // Entries forgotten stay in the map until overwritten; bound it all the same.
    if (this.latest.size > 4 * this.capacity) {
      this.latest.clear();
      this.indexed = 0;
      this.index();
    }
  }
}
