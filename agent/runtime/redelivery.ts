/**
 * Redeliveries of QoS 1 messages the agent already took. A publisher that did not see its
 * PUBACK (the agent crashed after the commit that held the message, before the PUBACK left)
 * sends the message again with the DUP flag; processing it twice would count it twice.
 * Here the last `capacity` QoS 1 messages taken are remembered by (publisher, packet id,
 * checksum of topic and payload); a DUP message that matches the latest one of its
 * publisher and packet id is a redelivery. The memory is kept in the checkpoint and rebuilt
 * by replaying the log, so it survives the crash it is for.
 */
import { crc32 } from "node:zlib";

/** What the checkpoint keeps. */
export interface RedeliverySnapshot {
  clients: string[];
  /** per entry: index into `clients` */
  client: Int32Array;
  mid: Uint16Array;
  sum: Uint32Array;
  next: number;
  size: number;
}

export class Redeliveries {
  private readonly client: Int32Array;
  private readonly mid: Uint16Array;
  private readonly sum: Uint32Array;
  private next = 0;
  private size = 0;
  private clientIds = new Map<string, number>();
  private clientNames: string[] = [];

  constructor(private readonly capacity = 16_384) {
    this.client = new Int32Array(capacity);
    this.mid = new Uint16Array(capacity);
    this.sum = new Uint32Array(capacity);
  }

  /** Remembers a QoS 1 message taken (publisher `client`, packet id `mid`). */
  taken(client: string, mid: number, topic: string, payload: Buffer): void {
    const i = this.next;
    this.client[i] = this.clientIndex(client);
    this.mid[i] = mid;
    this.sum[i] = checksum(topic, payload);
    this.next = (i + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** Whether a DUP message is one already taken: the latest of its publisher and packet id, with the same content. */
  isRedelivery(client: string, mid: number, topic: string, payload: Buffer): boolean {
    const c = this.clientIds.get(client);
    if (c === undefined) return false;
    for (let k = 1; k <= this.size; k++) {
      const i = (this.next - k + this.capacity) % this.capacity;
      if (this.client[i] === c && this.mid[i] === mid)
        return this.sum[i] === checksum(topic, payload);
    }
    return false;
  }

  snapshot(): RedeliverySnapshot {
    return {
      clients: [...this.clientNames],
      client: this.client.slice(),
      mid: this.mid.slice(),
      sum: this.sum.slice(),
      next: this.next,
      size: this.size,
    };
  }

  restore(s: RedeliverySnapshot): void {
    if (s.client.length !== this.capacity) return; // another capacity: start empty
    this.client.set(s.client);
    this.mid.set(s.mid);
    this.sum.set(s.sum);
    this.next = s.next;
    this.size = s.size;
    this.clientNames = [...s.clients];
    this.clientIds = new Map(s.clients.map((name, i) => [name, i]));
  }

  private clientIndex(client: string): number {
    let c = this.clientIds.get(client);
    if (c === undefined) {
      // Publishers come and go: past this many names, start the table again (the entries
      // of forgotten names can no longer match, which only forgets older redeliveries).
      if (this.clientNames.length >= 4 * this.capacity) {
        this.clientIds.clear();
        this.clientNames = [];
        this.client.fill(-1);
      }
      c = this.clientNames.length;
      this.clientNames.push(client);
      this.clientIds.set(client, c);
    }
    return c;
  }
}

function checksum(topic: string, payload: Buffer): number {
  return crc32(payload, crc32(topic));
}
