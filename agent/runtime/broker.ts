/** The embedded MQTT broker: aedes on a TCP server, bound to the configured host and port. */
import { createServer, type Server, type Socket } from "node:net";
import { Aedes } from "aedes";
import { BrookError } from "../errors.js";

export interface EmbeddedBroker {
  readonly aedes: Aedes;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /**
   * Stops taking new connections and disconnects every client but `keepClientId`, so no
   * sensor publish is accepted (and acknowledged) that the agent would no longer process.
   */
  stopAccepting(keepClientId: string): Promise<void>;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(
  host: string,
  port: number,
  name = "edge",
): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  // No Nagle: small MQTT packets (alerts, acknowledgements) go out at once, not ~40 ms later.
  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    aedes.handle(socket);
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
    async stopAccepting(keepClientId) {
      server.close();
      // `clients` is aedes' registry of connected clients (not in its type definitions).
      const clients = (
        aedes as unknown as { clients: Record<string, { close(cb?: () => void): void }> }
      ).clients;
      await Promise.all(
        Object.entries(clients)
          .filter(([id]) => id !== keepClientId)
          .map(([, client]) => new Promise<void>((resolve) => client.close(() => resolve()))),
      );
    },
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
