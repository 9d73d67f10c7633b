/** The embedded MQTT broker: aedes on a TCP server, bound to the configured host and port. */
import { createServer, type Server, type Socket } from "node:net";
import { Aedes, type AedesPublishPacket } from "aedes";
import { BrookError } from "../errors.js";
import { connectedClients, deliverOvertakenMessages, readInSlices } from "./aedes-patches.js";

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
      await Promise.all(
        connectedClients(aedes).map(
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
    private readonly deliver: (topic: string, payload: Buffer, qos: number) => void,
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
                  packet.qos,
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
