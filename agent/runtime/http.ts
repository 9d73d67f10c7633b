/**
 * A small HTTP endpoint: GET /healthz and GET /metrics (Prometheus text format), and
 * whatever `more` answers (the live view, agent/live/routes.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { BrookError } from "../errors.js";

export interface HttpEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttp(
  host: string,
  port: number,
  registry: Registry,
  health: () => object,
  more?: (req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<HttpEndpoint> {
  const server: Server = createServer((req, res) => {
    if (more?.(req, res) === true) return;
    if (req.method === "GET" && req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(health()));
    } else if (req.method === "GET" && req.url === "/metrics") {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(text);
        },
        (err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        },
      );
    } else {
      res.writeHead(404);
      res.end("not found: try /, /status, /readyz, /healthz or /metrics\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new BrookError(
          "BROOK_ERR_PORT_IN_USE",
          `the HTTP endpoint cannot listen on ${host}:${port} (${err.code ?? err.message}); set http.port or http.enabled: false`,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr !== null ? addr.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
