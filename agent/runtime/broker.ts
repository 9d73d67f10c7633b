/** The embedded MQTT broker: aedes on a TCP server, bound to the configured host and port. */
import { createServer, type Server, type Socket } from "node:net";
import { Aedes, type AedesPublishPacket } from "aedes";
import { BrookError } from "../errors.js";

export interface EmbeddedBroker {
  readonly aedes: Aedes;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /**
   * Stops taking new connections and disconnects every client, and every connection that
   * has not yet become one (its CONNECT still to come), so no sensor publish is accepted
   * (and acknowledged) that the agent would no longer process.
   */
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `prepare` runs once the broker exists and before it listens: what it subscribes in-process
 * (see LocalSubscriber) misses no message a client could publish.
 */
export async function startEmbeddedBroker(
  host: string,
  port: number,
  name = "edge",
  prepare?: (aedes: Aedes) => void,
): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  try {
    prepare?.(aedes);
  } catch (err) {
    aedes.close();
    throw err;
  }
  const sockets = new Set<Socket>();
  // No Nagle: small MQTT packets (alerts, acknowledgements) go out at once, not ~40 ms later.
  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const client = aedes.handle(socket);
    deliverOvertakenMessages(client);
    readInSlices(aedes, client, socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      const message =
        err.code === "EADDRINUSE"
          ? `the ${name} broker cannot listen on ${host}:${port}: the port is already in use (another MQTT broker such as mosquitto?). Choose another port, or point the agent at that broker with edge.url`
          : `the ${name} broker cannot listen on ${host}:${port}: ${err.message}`;
      aedes.close();
      reject(
        new BrookError(
          err.code === "EADDRINUSE" ? "BROOK_ERR_PORT_IN_USE" : "BROOK_ERR_BROKER_UNREACHABLE",
          message,
          [],
          err,
        ),
      );
    });
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const actualPort = typeof bound === "object" && bound !== null ? bound.port : port;
  return {
    aedes,
    host,
    port: actualPort,
    url: `mqtt://${host.includes(":") ? `[${host}]` : host}:${actualPort}`,
    async stopAccepting() {
      server.close();
      // `clients` is aedes' registry of connected clients (not in its type definitions).
      const clients = (
        aedes as unknown as { clients: Record<string, { close(cb?: () => void): void }> }
      ).clients;
      await Promise.all(
        Object.values(clients).map(
          (client) => new Promise<void>((resolve) => client.close(() => resolve())),
        ),
      );
      for (const s of sockets) s.destroy();
    },
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
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
function readInSlices(aedes: Aedes, client: unknown, socket: Socket): void {
  const c = client as Partial<ReadingClient>;
  const nextBatch = c._nextBatch;
  if (typeof nextBatch !== "function" || typeof c._parsingBatch !== "number") return;
  const read = socket.read.bind(socket);
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
    if (size !== undefined && size !== null) return read(size);
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
function deliverOvertakenMessages(client: unknown): void {
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

/**
 * The agent's subscription at its embedded broker, in the broker's own process: no socket
 * and no MQTT client in between, so a reading costs no encoding, copying or parsing beyond
 * the publisher's packet. (aedes sends a QoS 1 publisher its PUBACK, then routes the
 * message in the same turn of the event loop.) As for a client's subscription, a filter
 * starting with a wildcard does not match topics starting with '$' (MQTT 3.1.1, 4.7.2),
 * and a message matching several filters is delivered once. Unlike a client's, a new
 * subscription is not sent the broker's retained messages: what it gets is what is
 * published from then on. An error thrown by `deliver` goes to `failed`, never into the
 * broker, which would lose the message for its other subscribers.
 */
export class LocalSubscriber {
  private readonly handlers = new Map<
    string,
    (packet: AedesPublishPacket, done: () => void) => void
  >();
  /** the packet delivered last: the broker hands one message to each matching filter in turn */
  private last: AedesPublishPacket | undefined;

  constructor(
    private readonly aedes: Aedes,
    private readonly deliver: (topic: string, payload: Buffer) => void,
    private readonly failed: (err: unknown, topic: string) => void,
  ) {}

  get filters(): string[] {
    return [...this.handlers.keys()];
  }

  /** Resolves once the broker routes the filters' messages here. */
  async add(filters: readonly string[]): Promise<void> {
    await Promise.all(
      filters
        .filter((f) => !this.handlers.has(f))
        .map((filter) => {
          const reserved = filter.startsWith("+") || filter.startsWith("#");
          const handler = (packet: AedesPublishPacket, done: () => void) => {
            if (packet !== this.last && !(reserved && packet.topic.startsWith("$"))) {
              this.last = packet;
              const { payload } = packet;
              try {
                this.deliver(
                  packet.topic,
                  typeof payload === "string" ? Buffer.from(payload) : payload,
                );
              } catch (err) {
                this.failed(err, packet.topic);
              }
            }
            done();
          };
          this.handlers.set(filter, handler);
          return new Promise<void>((resolve, reject) =>
            // aedes calls back with an error (a filter of too many levels) though its types say not.
            this.aedes.subscribe(filter, handler, ((err?: Error) => {
              if (err === undefined || err === null) return resolve();
              this.handlers.delete(filter);
              reject(err);
            }) as () => void),
          );
        }),
    );
  }

  async remove(filters: readonly string[]): Promise<void> {
    await Promise.all(
      filters.map((filter) => {
        const handler = this.handlers.get(filter);
        if (handler === undefined) return undefined;
        this.handlers.delete(filter);
        return new Promise<void>((resolve) => this.aedes.unsubscribe(filter, handler, resolve));
      }),
    );
  }
}
