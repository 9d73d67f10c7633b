/**
 * The live view's HTTP side on a real server (127.0.0.1, a free port): who may see readings
 * (the broker's credentials, HTTP Basic; nothing beyond loopback without them), readiness,
 * and the event stream's snapshot and alerts.
 */
import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { stopAfterAll } from "../../test/helpers/process.js";
import { startHttp } from "../runtime/http.js";
import { hashPassword, PasswordCheck } from "../runtime/passwords.js";
import { LiveRecorder } from "./recorder.js";
import { LiveRoutes, type LiveSource } from "./routes.js";
import type { Readiness, StatusReport } from "./status.js";

async function serve(
  stops: (() => Promise<unknown>)[],
  options: Partial<LiveSource> & { readiness?: Readiness } = {},
) {
  const recorder = new LiveRecorder();
  const routes = new LiveRoutes({
    recorder,
    status: () => ({ device: "d", state: "ready" }) as StatusReport,
    ready: () => options.readiness ?? { ready: true, why: [] },
    verifyUser: options.verifyUser,
    exposed: options.exposed ?? false,
  });
  const http = await startHttp(
    "127.0.0.1",
    0,
    new Registry(),
    () => ({}),
    (req, res) => routes.handle(req, res),
  );
  stops.push(async () => {
    routes.close();
    await http.close();
  });
  const url = `http://127.0.0.1:${http.port}`;
  return { recorder, url };
}

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});

describe("live view HTTP", () => {
  const stops = stopAfterAll();

  it("on loopback without credentials: the page, the status and readiness, which says why not", async () => {
    const { url } = await serve(stops, {
      readiness: { ready: false, why: ["the reading log takes no input"] },
    });
    const page = await fetch(`${url}/`);
    strictEqual(page.status, 200);
    match(await page.text(), /<title>Brook<\/title>/);
    deepStrictEqual(await (await fetch(`${url}/status`)).json(), { device: "d", state: "ready" });
    const ready = await fetch(`${url}/readyz`);
    strictEqual(ready.status, 503);
    deepStrictEqual(await ready.json(), { ready: false, why: ["the reading log takes no input"] });
    strictEqual((await fetch(`${url}/metrics`)).status, 200);
  });

  it("beyond loopback without a credentials file: readings are refused, readiness and metrics are not", async () => {
    const { url } = await serve(stops, { exposed: true });
    for (const path of ["/", "/status", "/events", "/api/sensors"]) {
      const res = await fetch(`${url}${path}`);
      strictEqual(res.status, 403, path);
      match(await res.text(), /edge\.embedded\.auth\.passwords/);
    }
    strictEqual((await fetch(`${url}/readyz`)).status, 200);
    strictEqual((await fetch(`${url}/metrics`)).status, 200);
  });

  it("with the broker's credentials file: a user's password is asked for (HTTP Basic), a wrong one refused", async () => {
    const check = new PasswordCheck(new Map([["ops", hashPassword("s3cret")]]));
    const { url } = await serve(stops, {
      exposed: true,
      verifyUser: (user, password, done) => check.verify(user, Buffer.from(password), done),
    });
    const none = await fetch(`${url}/status`);
    strictEqual(none.status, 401);
    match(none.headers.get("www-authenticate") ?? "", /^Basic realm="brook"/);
    strictEqual((await fetch(`${url}/status`, { headers: basic("ops", "wrong") })).status, 401);
    strictEqual((await fetch(`${url}/status`, { headers: basic("nobody", "s3cret") })).status, 401);
    strictEqual((await fetch(`${url}/status`, { headers: basic("ops", "s3cret") })).status, 200);
    strictEqual((await fetch(`${url}/readyz`)).status, 200);
  });

  it("the event stream starts with a snapshot and sends an alert, with its sensor, as it opens", async () => {
    const { url, recorder } = await serve(stops);
    recorder.reading({ sensor: "pump", ts: 1, value: 5 });
    const res = await fetch(`${url}/events?q=pu&by=alerts&n=3`);
    strictEqual(res.headers.get("content-type"), "text/event-stream");
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    const nextEvent = async (name: string) => {
      for (;;) {
        const at = text.indexOf(`event: ${name}\ndata: `);
        const end = at < 0 ? -1 : text.indexOf("\n\n", at);
        if (end >= 0) {
          const data = text.slice(text.indexOf("data: ", at) + 6, end);
          text = text.slice(end + 2);
          return JSON.parse(data);
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before a ${name} event`);
        text += Buffer.from(value).toString();
      }
    };
    const snapshot = await nextEvent("snapshot");
    deepStrictEqual(
      snapshot.sensors.sensors.map((s: { sensor: string }) => s.sensor),
      ["pump"],
    );
    recorder.output({
      kind: "alert",
      id: "a1",
      revision: 0,
      device: "d",
      rule: "spikes",
      key: "pump",
      detector: "zscore",
      severity: "critical",
      state: "open",
      ts: 1,
      value: 5,
      score: 9,
      anomalyScore: 1,
      threshold: 3,
    });
    const alert = await nextEvent("alert");
    deepStrictEqual(
      [alert.alert.id, alert.sensor.sensor, alert.sensor.markers],
      ["a1", "pump", [[1, 5]]],
    );
    await reader.cancel();
  });
});
