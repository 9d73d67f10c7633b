/** The embedded MQTT broker: aedes on a TCP server (and optionally a TLS one), bound to the configured host and ports, with limits on connections and packet sizes. */
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { Aedes, type AedesPublishPacket } from "aedes";
import {
  parsePublishesDirectly,
  writeAcknowledgementsTogether,
  writeWithoutNumberCache,
} from "../../lib/mqtt-packet-patches.js";
import { BrookError } from "../errors.js";
import { connectedClients, deliverOvertakenMessages, readInSlices } from "./aedes-patches.js";
import { type KeptLimits, limitPersistence, PacketSizeGuard } from "./edge-limits.js";

export interface EmbeddedBroker {
  readonly aedes: Aedes;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** the TLS listener's URL, when there is one */
  readonly tlsUrl: string | undefined;
  /**
   * Stops taking new connections and disconnects every client, and every connection that
   * has not yet become one (its CONNECT still to come), so no sensor publish is accepted
   * (and acknowledged) that the agent would no longer process.
   */
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
}

/** What the broker refuses, beside aedes' own checks; each refusal is counted by reason. */
export interface BrokerLimits {
  /** connections at once, plain and TLS together; beyond them a new one is closed at once */
  maxConnections?: number;
  /** the largest MQTT packet (its remaining length); a larger one closes its connection */
  maxPacketBytes?: number;
  refused?: (reason: "connections" | "packet_too_large", remote: string | undefined) => void;
}

/** A second listener, with TLS: its certificate and key, and the CA of client certificates it asks for. */
export interface BrokerTls {
  port: number;
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** refuse a connection without a client certificate signed by `ca` */
  requireClientCert?: boolean;
}

export interface BrokerOptions {
  limits?: BrokerLimits;
  tls?: BrokerTls;
  /** what aedes keeps in memory for others (retained messages, queues), at most */
  kept?: KeptLimits;
  /** where the plain (TCP) listener binds, when not `host` (with TLS: loopback, by default) */
  plainHost?: string;
}

/** A connection that has not sent its CONNECT by then is closed (aedes' default: 30 s). */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * `prepare` runs once the broker exists and before it listens: what it subscribes in-process
 * (see LocalSubscriber) misses no message a client could publish.
 */
export async function startEmbeddedBroker(
  host: string,
  port: number,
  name = "edge",
  prepare?: (aedes: Aedes) => void,
  options: BrokerOptions = {},
): Promise<EmbeddedBroker> {
  writeWithoutNumberCache();
  writeAcknowledgementsTogether();
  const aedes = await Aedes.createBroker({ connectTimeout: CONNECT_TIMEOUT_MS });
  try {
    if (options.kept !== undefined) limitPersistence(aedes, options.kept);
    prepare?.(aedes);
  } catch (err) {
    aedes.close();
    throw err;
  }
  const sockets = new Set<Socket>();
  const { limits = {} } = options;
  const accept = (socket: Socket) => {
    if (limits.maxConnections !== undefined && sockets.size >= limits.maxConnections) {
      limits.refused?.("connections", socket.remoteAddress);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined); // a reset peer: aedes sees the close
    const client = aedes.handle(socket);
    deliverOvertakenMessages(client);
    parsePublishesDirectly(client);
    const max = limits.maxPacketBytes;
    const guard = max === undefined ? undefined : new PacketSizeGuard(max);
    readInSlices(aedes, client, socket, (chunk) => {
      if (guard === undefined || guard.feed(chunk)) return true;
      limits.refused?.("packet_too_large", socket.remoteAddress);
      return false;
    });
  };
  // No Nagle: small MQTT packets (alerts, acknowledgements) go out at once, not ~40 ms later.
  const servers: Server[] = [createServer({ noDelay: true }, accept)];
  const tls = options.tls;
  if (tls !== undefined)
    servers.push(
      createTlsServer(
        {
          cert: tls.cert,
          key: tls.key,
          ca: tls.ca,
          requestCert: tls.requireClientCert === true,
          rejectUnauthorized: tls.requireClientCert === true,
          noDelay: true,
        },
        accept,
      ),
    );
  try {
    await listen(servers[0] as Server, options.plainHost ?? host, port, name);
    if (tls !== undefined) await listen(servers[1] as Server, host, tls.port, `${name} (TLS)`);
  } catch (err) {
    for (const server of servers) if (server.listening) server.close();
    aedes.close();
    throw err;
  }
  const portOf = (server: Server | undefined) => {
    const bound = server?.address();
    return typeof bound === "object" && bound !== null ? bound.port : 0;
  };
  const actualPort = portOf(servers[0]);
  const urlHost = (h: string) => (h.includes(":") ? `[${h}]` : h);
  return {
    aedes,
    host,
    port: actualPort,
    url: `mqtt://${urlHost(options.plainHost ?? host)}:${actualPort}`,
    tlsUrl: tls === undefined ? undefined : `mqtts://${urlHost(host)}:${portOf(servers[1])}`,
    async stopAccepting() {
      for (const server of servers) server.close();
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
      for (const server of servers)
        if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: Server, host: string, port: number, name: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      const message =
        err.code === "EADDRINUSE"
          ? `the ${name} broker cannot listen on ${host}:${port}: the port is already in use (another MQTT broker such as mosquitto?). Choose another port, or point the agent at that broker with edge.url`
          : `the ${name} broker cannot listen on ${host}:${port}: ${err.message}`;
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

  /** Whether `notify` is one of this subscriber's handlers (the broker's emitter gets them). */
  owns(notify: unknown): boolean {
    for (const handler of this.handlers.values()) if (handler === notify) return true;
    return false;
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
