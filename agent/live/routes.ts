/**
 * The live view's HTTP side (docs/LIVE.md): the page at `/`, its Server-Sent Events at
 * `/events`, the status at `/status`, sensors at `/api/sensors` and `/api/sensor`, and
 * readiness at `/readyz`. What shows readings (everything but `/readyz`) asks for the
 * embedded broker's credentials when it has a credentials file (HTTP Basic), and is
 * refused when the endpoint listens beyond this machine without one.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { PAGE_HTML } from "./page.js";
import type { AlertView, LiveRecorder, SensorQuery } from "./recorder.js";
import type { Readiness, StatusReport } from "./status.js";

export interface LiveSource {
  recorder: LiveRecorder;
  status(): StatusReport;
  ready(): Readiness;
  /** checks a user's password (the broker's credentials file); undefined: none is asked */
  verifyUser: ((user: string, password: string, done: (ok: boolean) => void) => void) | undefined;
  /** the endpoint listens beyond this machine */
  exposed: boolean;
}

interface Client {
  res: ServerResponse;
  query: SensorQuery;
}

/** Sensors a page shows unless it asks for another number; at most MAX_SHOWN. */
const SHOWN = 12;
const MAX_SHOWN = 200;
/** Alerts sent in each update: all open ones up to this many, and the recent ones. */
const OPEN_SENT = 200;
const RECENT_SENT = 30;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

/** One Server-Sent Event. */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function sensorQuery(params: URLSearchParams): SensorQuery {
  const by = params.get("by");
  const n = Number(params.get("n") ?? SHOWN);
  return {
    q: params.get("q") ?? undefined,
    by: by === "alerts" || by === "name" ? by : "activity",
    n: Number.isInteger(n) && n >= 0 ? Math.min(n, MAX_SHOWN) : SHOWN,
  };
}

export class LiveRoutes {
  private readonly clients = new Set<Client>();
  private alertsDue: AlertView[] = [];

  constructor(private readonly source: LiveSource) {
    source.recorder.onAlert = (alert) => this.alertSoon(alert);
  }

  /** Answers the request if it is one of the live view's; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? "/", "http://brook");
    if (req.method !== "GET") return false;
    if (url.pathname === "/readyz") {
      const ready = this.source.ready();
      json(res, ready.ready ? 200 : 503, ready);
      return true;
    }
    const route = this.route(url);
    if (route === undefined) return false;
    this.authorized(req, res, () => route(res));
    return true;
  }

  private route(url: URL): ((res: ServerResponse) => void) | undefined {
    const { recorder } = this.source;
    switch (url.pathname) {
      case "/":
        return (res) => {
          res.writeHead(200, {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
          });
          res.end(PAGE_HTML);
        };
      case "/favicon.ico":
        return (res) => {
          res.writeHead(204);
          res.end();
        };
      case "/events":
        return (res) => this.subscribe(res, sensorQuery(url.searchParams));
      case "/status":
        return (res) => json(res, 200, this.source.status());
      case "/api/sensors":
        return (res) => json(res, 200, recorder.query(sensorQuery(url.searchParams)));
      case "/api/sensor":
        return (res) => {
          const view = recorder.sensor(url.searchParams.get("name") ?? "");
          json(res, view === undefined ? 404 : 200, view ?? { error: "no such sensor" });
        };
      default:
        return undefined;
    }
  }

  private authorized(req: IncomingMessage, res: ServerResponse, then: () => void): void {
    const { verifyUser, exposed } = this.source;
    if (verifyUser === undefined) {
      if (!exposed) then();
      else
        json(res, 403, {
          error:
            "the live view shows readings: beyond this machine it needs the embedded broker's credentials file (edge.embedded.auth.passwords); /metrics, /healthz and /readyz stay open",
        });
      return;
    }
    const [scheme, encoded] = (req.headers.authorization ?? "").split(" ");
    const decoded =
      scheme?.toLowerCase() === "basic" ? Buffer.from(encoded ?? "", "base64").toString() : "";
    const colon = decoded.indexOf(":");
    const refuse = () => {
      res.writeHead(401, { "www-authenticate": 'Basic realm="brook", charset="UTF-8"' });
      res.end("a user of the broker's credentials file, please\n");
    };
    if (colon < 1) refuse();
    else
      verifyUser(decoded.slice(0, colon), decoded.slice(colon + 1), (ok) =>
        ok ? then() : refuse(),
      );
  }

  private subscribe(res: ServerResponse, query: SensorQuery): void {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    const client = { res, query };
    this.clients.add(client);
    res.on("close", () => this.clients.delete(client));
    res.write("retry: 2000\n\n");
    const update = { ...this.common(), sensors: this.source.recorder.query(query) };
    res.write(frame("snapshot", { ...update, series: this.source.recorder.samples }));
  }

  /** What every page's update holds (the status reads the outbox: once a tick, not once a page). */
  private common() {
    const { recorder } = this.source;
    const alerts = recorder.alerts();
    return {
      status: this.source.status(),
      sample: recorder.samples.at(-1) ?? null,
      alerts: {
        open: alerts.open.slice(0, OPEN_SENT),
        recent: alerts.recent.slice(0, RECENT_SENT),
      },
    };
  }

  /** Once a second, after the recorder's sample: every page gets its update. */
  tick(): void {
    if (this.clients.size === 0) return;
    const common = this.common();
    for (const client of this.clients)
      client.res.write(
        frame("update", { ...common, sensors: this.source.recorder.query(client.query) }),
      );
  }

  /** An alert goes to the pages at once (in the same turn's end), with its sensor. */
  private alertSoon(alert: AlertView): void {
    if (this.clients.size === 0) return;
    if (this.alertsDue.length === 0) setImmediate(() => this.sendAlerts());
    this.alertsDue.push(alert);
  }

  private sendAlerts(): void {
    const due = this.alertsDue;
    this.alertsDue = [];
    for (const alert of due) {
      const text = frame("alert", {
        alert,
        sensor: this.source.recorder.sensor(alert.key) ?? null,
      });
      for (const client of this.clients) client.res.write(text);
    }
  }

  /** Ends every page's stream (the agent stops). */
  close(): void {
    for (const client of this.clients) client.res.end();
    this.clients.clear();
  }
}
