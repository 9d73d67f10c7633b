/**
 * Brook's patches to aedes' internals, all in this one file (CONVENTIONS.md 14). Each says
 * what it works around, leaves alone a client whose layout it does not recognise (another
 * aedes version), and has a test in broker.test.ts that fails when an upgrade changes the
 * behaviour it relies on:
 * - deliverOvertakenMessages: moscajs/aedes#994, a QoS 1 message overtaken by a QoS 0 one
 *   is skipped for a client subscribed to both;
 * - readInSlices: aedes handles a connection's whole buffered input in one turn, so a
 *   result published in-process waits for the backlog (no upstream issue: a latency choice
 *   of aedes' read loop), with publishInProcess, which the slices wait for;
 * - connectedClients: aedes' registry of clients, which its type definitions omit;
 * - writeWithoutNumberCache: mqtt-packet, which writes aedes' packets, fills a cache of
 *   65,536 two-byte Buffers at the first packet written (6.3 MB of heap on a 64-bit Node,
 *   held for good); a packet id is written as a new 2-byte Buffer instead.
 */
import type { Socket } from "node:net";
import type { Aedes, AedesPublishPacket } from "aedes";
import { writeToStream } from "mqtt-packet";

/** mqtt-packet's own switch (`cacheNumbers`), for every user of it in this process. */
export function writeWithoutNumberCache(): void {
  writeToStream.cacheNumbers = false;
}

/** Every client connected to the broker (aedes' `clients`, not in its type definitions). */
export function connectedClients(aedes: Aedes): { id: string; close(cb?: () => void): void }[] {
  const clients = (
    aedes as unknown as {
      clients?: Record<string, { id: string; close(cb?: () => void): void }>;
    }
  ).clients;
  return Object.values(clients ?? {});
}

/**
 * Publishes from inside the broker's process (not retained): `done` once the broker has
 * routed the message (written it to its subscribers), or with the broker's error. While it
 * is under way, the broker's connections wait a few turns before more of their input is
 * read (see readInSlices).
 */
export function publishInProcess(
  aedes: Aedes,
  topic: string,
  payload: Buffer,
  qos: 0 | 1,
  done: (err?: Error) => void,
): void {
  let underway = publishing.get(aedes);
  if (underway === undefined) {
    underway = new Set();
    publishing.set(aedes, underway);
  }
  const publish = {};
  underway.add(publish);
  let called = false;
  const finished = (err?: Error) => {
    called = true;
    underway.delete(publish);
    done(err);
  };
  try {
    aedes.publish({ cmd: "publish", topic, payload, qos, retain: false, dup: false }, finished);
  } catch (err) {
    // aedes may call back before it returns: an error thrown by `done` itself is not the broker's.
    if (called) throw err;
    finished(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * Each broker's in-process publishes (publishInProcess) under way: those the connections'
 * next slices wait for (see readInSlices).
 */
const publishing = new WeakMap<Aedes, Set<object>>();

/** At most this many bytes of a connection's input are parsed in one turn of the event loop. */
export const READ_SLICE_BYTES = 1024;
/** Turns of the event loop a connection's next slice waits, at most, for in-process publishes to complete. */
const MAX_WAIT_TURNS = 8;

/** What readInSlices needs of an aedes client (its read loop is not in its type definitions). */
interface ReadingClient {
  /** reads the connection's buffered input and parses it (aedes' 'readable' listener) */
  _nextBatch: () => void;
  /** packets parsed whose handling has not finished: aedes reads more only at 0 */
  _parsingBatch: number;
}

/**
 * aedes reads all of a connection's buffered input at once and handles every packet in it
 * in one turn of the event loop: after a stall, hundreds of readings. A result the agent
 * publishes while handling the first of them is routed only after that turn (a QoS 1
 * publish waits on the broker's persistence, a promise) and written to its subscribers a
 * turn or two later (aedes defers each delivery with setImmediate), so it waited for the
 * whole backlog behind its reading. Here the broker gets at most READ_SLICE_BYTES of a
 * connection's input per turn, and the next slice waits until the in-process publishes
 * under way have completed, for at most MAX_WAIT_TURNS turns: a publish that outlasts them
 * (a subscriber that does not read holds it up) is no longer waited for by any connection.
 * A slice cut short that completes no packet (one larger than a slice) doubles the next, up
 * to the stream's buffer size, so a large packet takes a few turns, not one per KiB.
 * Another aedes version may lay its clients out differently; then the connection is read
 * as aedes does it (and the test of this fails).
 */
export function readInSlices(
  aedes: Aedes,
  client: unknown,
  socket: Socket,
  inspect?: (chunk: Buffer) => boolean,
): void {
  const c = client as Partial<ReadingClient>;
  const nextBatch = c._nextBatch;
  const plain = socket.read.bind(socket);
  // Every chunk the broker reads passes `inspect` first; one it refuses ends the connection.
  const read = (size?: number): Buffer | null => {
    const chunk = plain(size) as Buffer | null;
    if (chunk === null || inspect === undefined || inspect(chunk)) return chunk;
    socket.destroy();
    return null;
  };
  if (typeof nextBatch !== "function" || typeof c._parsingBatch !== "number") {
    if (inspect !== undefined) socket.read = read;
    return;
  }
  // Never more than the stream's own limit: a larger read(n) would raise that limit for good.
  const largest = Math.max(READ_SLICE_BYTES, socket.readableHighWaterMark);
  let slice = READ_SLICE_BYTES;
  /** a slice went to the broker and the next one is not due yet */
  let sliced = false;
  /** the last slice left input behind */
  let cut = false;
  /** the broker asked for more input while it was not due: it finished the slice's packets */
  let asked = false;
  /** `waited`: the publishes under way when the wait began */
  const resume = (turns: number, waited?: object[]) => {
    const underway = publishing.get(aedes);
    if (underway !== undefined && underway.size > 0) {
      const waitingFor = waited ?? [...underway];
      if (waitingFor.some((p) => underway.has(p))) {
        if (turns < MAX_WAIT_TURNS) {
          setImmediate(resume, turns + 1, waitingFor);
          return;
        }
        for (const p of waitingFor) underway.delete(p);
      }
    }
    const idle = c._parsingBatch === 0;
    slice = cut && !asked && idle ? Math.min(slice * 2, largest) : READ_SLICE_BYTES;
    sliced = false;
    asked = false;
    // Also when the broker did not ask (the slice ended inside a packet): the rest of it,
    // or the end of the stream, is read now, not when more input happens to come.
    if (idle && !socket.destroyed) nextBatch();
  };
  // Only the broker's read of "everything buffered" is sliced; the stream's own read(0) is not.
  socket.read = (size?: number) => {
    if (size !== undefined && size !== null) return plain(size);
    if (sliced) {
      asked = true;
      return null;
    }
    const buffered = socket.readableLength;
    // Nothing buffered: the plain read arms the stream's next 'readable' (or its 'end').
    if (buffered === 0) return read();
    sliced = true;
    setImmediate(resume, 0);
    cut = buffered > slice;
    return cut ? read(slice) : read();
  };
}

/** What deliverOvertakenMessages needs of an aedes client (its delivery functions are not in its type definitions). */
interface DeliveringClient {
  duplicates: Record<string, number>;
  deliver0: Deliver;
  deliverQoS: Deliver;
}
type Deliver = (
  packet: AedesPublishPacket & { brokerId?: string; brokerCounter?: number },
  done: () => void,
) => void;

/**
 * aedes numbers each message as it is published and skips, for each client, a message
 * numbered below the last one it delivered to that client, taking it for a repeat through
 * an overlapping subscription. But a QoS 1 or 2 message waits for the persistence before it
 * is routed, so a QoS 0 message published just after it is delivered first, and a client
 * subscribed to both never gets the QoS 1 one (moscajs/aedes#994): a local alert (QoS 1) lost
 * to a dashboard that also watches the readings. Here only a true repeat — the same number
 * as the last delivered — is skipped. Set before the client reads its first packet (its
 * subscriptions capture the delivery functions).
 */
export function deliverOvertakenMessages(client: unknown): void {
  const c = client as Partial<DeliveringClient>;
  // Another aedes version may lay its clients out differently; then it is left alone (and
  // the test of this fix fails, rather than a message going missing unnoticed).
  if (typeof c.duplicates !== "object" || c.duplicates === null) return;
  const duplicates = c.duplicates;
  for (const name of ["deliver0", "deliverQoS"] as const) {
    const deliver = c[name];
    if (typeof deliver !== "function") continue;
    c[name] = (packet, done) => {
      const id = packet.brokerId;
      if (typeof id === "string" && duplicates[id] !== packet.brokerCounter) delete duplicates[id];
      deliver(packet, done);
    };
  }
}
