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
 * - routeOnlyWhenHeard: aedes routes every client's publish through its whole path, also a
 *   sensor's reading the agent has already taken and no one else subscribes to.
 * Those to mqtt-packet, which parses and writes aedes' packets, are in lib/mqtt-packet-patches.ts.
 */
import type { Socket } from "node:net";
import type { Aedes, AedesPublishPacket } from "aedes";
import { topicMatcher } from "../../rules/topic.js";

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
export const READ_SLICE_BYTES = 8 * 1024;
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

/** What routeOnlyWhenHeard needs of aedes' emitter and persistence (typed `any` by aedes). */
interface Emitter {
  on(topic: string, notify: unknown, done?: () => void): unknown;
  removeListener(topic: string, notify: unknown, done?: () => void): unknown;
  removeAllListeners(topic: string, done?: () => void): unknown;
}
interface SessionStore {
  addSubscriptions(client: { id: string }, subs: { topic: string }[]): unknown;
  removeSubscriptions(client: { id: string }, topics: string[]): unknown;
  cleanSubscriptions(client: { id: string }): unknown;
}
/** Topics whose answer (heard or not) is remembered, at most; beyond them the memory starts again. */
const MAX_HEARD_TOPICS = 100_000;

/**
 * aedes routes every client's publish: a Packet made and numbered, the topic matched
 * against every subscription, the persistence asked for offline sessions to queue it for, a
 * 'publish' event. A sensor's reading that the agent has already taken in authorizePublish
 * and that no one else subscribes to goes through all of it for nothing: a tenth of the
 * agent's CPU at 40,000 readings/s (docs/BENCHMARKS.md). Here `aedes.publish` returns at
 * once for a client's message that `taken` says the agent has, that is not retained and at
 * most QoS 1, when no subscription but the agent's own (`ours`) matches its topic: neither
 * a listener on the broker's emitter (connected clients, in-process subscribers) nor a
 * subscription kept for a persistent session, online or off. Each is recorded as aedes makes
 * it (the emitter's `on`/`removeListener`, the persistence's `addSubscriptions`,
 * `removeSubscriptions`, `cleanSubscriptions`); a topic's answer is remembered until the
 * next change. Matching is by the MQTT rules without the `$` exception, so it may route a
 * message no one gets, never skip one someone would. Installed before the broker's first
 * client connects. A broker without these methods is left alone (and the test fails).
 */
export function routeOnlyWhenHeard(
  aedes: Aedes,
  taken: (packet: AedesPublishPacket) => boolean,
  ours: (notify: unknown) => boolean,
): void {
  const inner = aedes as unknown as { mq?: Partial<Emitter>; persistence?: Partial<SessionStore> };
  const mq = inner.mq;
  const store = inner.persistence;
  if (
    typeof mq?.on !== "function" ||
    typeof mq.removeListener !== "function" ||
    typeof mq.removeAllListeners !== "function" ||
    typeof store?.addSubscriptions !== "function" ||
    typeof store.removeSubscriptions !== "function" ||
    typeof store.cleanSubscriptions !== "function"
  )
    return;
  /** filter → listeners on the emitter that are not the agent's */
  const listeners = new Map<string, number>();
  /** client id → filters kept for its session */
  const sessions = new Map<string, Set<string>>();
  const heard = new Map<string, boolean>();
  let matchers: ((topic: string) => boolean)[] | undefined;
  const changed = () => {
    heard.clear();
    matchers = undefined;
  };
  const { on, removeListener, removeAllListeners } = mq as Emitter;
  const emitter = mq as Emitter;
  emitter.on = (topic, notify, done) => {
    if (!ours(notify)) listeners.set(topic, (listeners.get(topic) ?? 0) + 1);
    changed();
    return on.call(mq, topic, notify, done);
  };
  emitter.removeListener = (topic, notify, done) => {
    const n = listeners.get(topic);
    if (n !== undefined && !ours(notify))
      n > 1 ? listeners.set(topic, n - 1) : listeners.delete(topic);
    changed();
    return removeListener.call(mq, topic, notify, done);
  };
  emitter.removeAllListeners = (topic, done) => {
    listeners.delete(topic);
    changed();
    return removeAllListeners.call(mq, topic, done);
  };
  const { addSubscriptions, removeSubscriptions, cleanSubscriptions } = store as SessionStore;
  const sessionStore = store as SessionStore;
  sessionStore.addSubscriptions = (client, subs) => {
    const kept = sessions.get(client.id) ?? new Set<string>();
    for (const sub of subs) kept.add(sub.topic);
    sessions.set(client.id, kept);
    changed();
    return addSubscriptions.call(store, client, subs);
  };
  sessionStore.removeSubscriptions = (client, topics) => {
    const kept = sessions.get(client.id);
    for (const topic of topics) kept?.delete(topic);
    if (kept?.size === 0) sessions.delete(client.id);
    changed();
    return removeSubscriptions.call(store, client, topics);
  };
  sessionStore.cleanSubscriptions = (client) => {
    sessions.delete(client.id);
    changed();
    return cleanSubscriptions.call(store, client);
  };
  const isHeard = (topic: string): boolean => {
    if (matchers === undefined) {
      const filters = new Set(listeners.keys());
      for (const kept of sessions.values()) for (const f of kept) filters.add(f);
      matchers = [...filters].map((f) => topicMatcher(f));
    }
    // No subscription but the agent's: nothing to look up (a topic's string is new with
    // each message, so a lookup hashes it; 3 % of the agent's CPU at 10,000 sensors).
    if (matchers.length === 0) return false;
    let answer = heard.get(topic);
    if (answer !== undefined) return answer;
    answer = matchers.some((matches) => matches(topic));
    if (heard.size >= MAX_HEARD_TOPICS) heard.clear();
    heard.set(topic, answer);
    return answer;
  };
  const publish = aedes.publish.bind(aedes);
  aedes.publish = ((packet: AedesPublishPacket, client: unknown, done?: (err?: Error) => void) => {
    if (
      typeof client === "object" &&
      client !== null &&
      typeof done === "function" &&
      packet.retain !== true &&
      packet.qos < 2 &&
      taken(packet) &&
      !isHeard(packet.topic)
    ) {
      done();
      return;
    }
    return (publish as (...args: unknown[]) => void)(packet, client, done);
  }) as Aedes["publish"];
}
