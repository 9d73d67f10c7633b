import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { MemoryOutbox } from "./memory-outbox.js";
import { record } from "./outbox.abstract.js";
import { Priority } from "./outbox.js";
import { SqliteOutbox } from "./sqlite-outbox.js";
import { type LinkState, Uplink, type UplinkOptions } from "./uplink.js";

/**
 * A cloud broker (aedes: it speaks MQTT 3.1.1 only, so every test also exercises the
 * fallback from MQTT 5) on a port held from the start: while `down`, connections are
 * dropped at once; PUBACKs can be held back. cloud-sync depends on nothing of ours, so the
 * test brings its own broker.
 */
async function cloudBroker() {
  const broker = await Aedes.createBroker();
  const ctl = {
    down: true,
    holdAcks: false,
    held: [] as (() => void)[],
    published: [] as { topic: string; payload: Buffer; retain: boolean }[],
    onHeld: () => {},
  };
  broker.authorizePublish = (client, packet, callback) => {
    if (client !== null)
      ctl.published.push({
        topic: packet.topic,
        payload: Buffer.from(packet.payload),
        retain: packet.retain,
      });
    if (!ctl.holdAcks || packet.topic.endsWith("/status")) return callback(null);
    ctl.held.push(() => callback(null));
    ctl.onHeld();
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    if (ctl.down) return socket.destroy();
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    broker.handle(socket);
  });
  /** every connection dropped at once (what was held stays unacknowledged) */
  const drop = () => {
    ctl.held.length = 0;
    for (const s of sockets) s.destroy();
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const close = async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { ctl, url: `mqtt://127.0.0.1:${port}`, drop, close };
}

function uplinkTo(url: string, options: Omit<UplinkOptions, "client">) {
  const client = mqtt.connect(url, {
    clientId: `uplink-test-${Math.random()}`,
    protocolVersion: 5,
    manualConnect: true,
    reconnectPeriod: 0,
    will: { topic: "brook/d/status", payload: Buffer.from("offline"), qos: 1, retain: true },
  });
  return new Uplink({
    client,
    backoff: { baseMs: 20, maxMs: 100 },
    statusTopic: "brook/d/status",
    ...options,
  });
}

type Published = { topic: string; payload: Buffer; retain: boolean };
const results = (c: { published: Published[] }) =>
  c.published.filter((p) => !p.topic.endsWith("/status"));

describe("uplink", () => {
  it("keeps records while the broker is down and deletes each only after its PUBACK", async () => {
    const cloud = await cloudBroker();
    const outbox = new SqliteOutbox(
      join(mkdtempSync(join(tmpdir(), "brook-uplink-")), "outbox.db"),
    );
    outbox.append([record("a"), record("b"), record("c")], 1);
    const states: LinkState[] = [];
    const uplink = uplinkTo(cloud.url, { outbox, onStateChange: (s) => states.push(s) });
    uplink.start();
    await new Promise<void>((resolve) => {
      const check = () => (uplink.reconnects >= 2 ? resolve() : setTimeout(check, 10));
      check();
    });
    strictEqual(outbox.depth(), 3);

    // The broker comes up but holds every PUBACK: the records are sent, and all stay.
    cloud.ctl.holdAcks = true;
    const allHeld = new Promise<void>((resolve) => {
      cloud.ctl.onHeld = () => cloud.ctl.held.length === 3 && resolve();
    });
    cloud.ctl.down = false;
    await allHeld;
    strictEqual(outbox.depth(), 3);
    strictEqual(uplink.inFlightCount, 3);
    strictEqual(uplink.protocolVersion, 4, "fell back to MQTT 3.1.1");

    for (const ack of cloud.ctl.held.splice(0)) ack();
    strictEqual(await uplink.waitIdle(10_000), true);
    strictEqual(outbox.depth(), 0);
    deepStrictEqual(
      results(cloud.ctl).map((p) => [
        p.topic,
        JSON.parse(p.payload.toString()).map((r: { id: string }) => r.id),
      ]),
      [
        ["brook/d/agg/a", ["a"]],
        ["brook/d/agg/b", ["b"]],
        ["brook/d/agg/c", ["c"]],
      ],
    );
    strictEqual(uplink.acknowledged, 3);
    deepStrictEqual(states.slice(0, 2), ["connecting", "offline"]);
    deepStrictEqual(states.slice(-2), ["draining", "live"]);
    deepStrictEqual(
      cloud.ctl.published
        .filter((p) => p.topic.endsWith("/status"))
        .map((p) => [p.payload.toString(), p.retain]),
      [["online", true]],
    );

    await uplink.stop();
    deepStrictEqual(cloud.ctl.published.at(-1)?.payload.toString(), "offline");
    outbox.close();
    await cloud.close();
  });

  it("sends again what was in flight when the connection dropped, then what came meanwhile, whatever its priority", async () => {
    const cloud = await cloudBroker();
    cloud.ctl.down = false;
    cloud.ctl.holdAcks = true;
    const outbox = new SqliteOutbox(
      join(mkdtempSync(join(tmpdir(), "brook-uplink-")), "outbox.db"),
    );
    outbox.append([record("a"), record("b"), record("c")], 1);
    const uplink = uplinkTo(cloud.url, { outbox });
    const allHeld = new Promise<void>((resolve) => {
      cloud.ctl.onHeld = () => cloud.ctl.held.length === 3 && resolve();
    });
    uplink.start();
    await allHeld;
    strictEqual(uplink.inFlightCount, 3);
    // Dropped with all three unacknowledged; meanwhile a bulk record and an alert come.
    cloud.ctl.holdAcks = false;
    cloud.drop();
    outbox.append([record("bulk", Priority.bulk), record("alert", Priority.alert)], 2);
    strictEqual(await uplink.waitIdle(10_000), true);
    strictEqual(outbox.depth(), 0);
    const sent = results(cloud.ctl).flatMap((p) =>
      JSON.parse(p.payload.toString()).map((r: { id: string }) => r.id),
    );
    deepStrictEqual(sent.slice(0, 3), ["a", "b", "c"]);
    deepStrictEqual(new Set(sent.slice(3)), new Set(["a", "b", "c", "bulk", "alert"]));
    await uplink.stop();
    outbox.close();
    await cloud.close();
  });

  it("sends N results per message, in priority order, gzip when asked", async () => {
    const cloud = await cloudBroker();
    cloud.ctl.down = false;
    const outbox = new MemoryOutbox();
    const same = (id: string, priority = Priority.aggregate) => ({
      ...record(id, priority),
      topic: "brook/d/agg/r",
    });
    outbox.append(
      [
        ...Array.from({ length: 250 }, (_, i) => same(`r${i}`)),
        { ...record("alert", Priority.alert), topic: "brook/d/alert/r" },
      ],
      1,
    );
    const uplink = uplinkTo(cloud.url, { outbox, batchSize: 100, compress: "gzip" });
    uplink.start();
    strictEqual(await uplink.waitIdle(10_000), true);
    const messages = results(cloud.ctl).map((p) => ({
      topic: p.topic,
      ids: JSON.parse(gunzipSync(p.payload).toString()).map((r: { id: string }) => r.id),
    }));
    deepStrictEqual(
      messages.map((m) => [m.topic, m.ids.length]),
      [
        ["brook/d/alert/r", 1],
        ["brook/d/agg/r", 100],
        ["brook/d/agg/r", 100],
        ["brook/d/agg/r", 50],
      ],
    );
    deepStrictEqual(
      messages.slice(1).flatMap((m) => m.ids),
      Array.from({ length: 250 }, (_, i) => `r${i}`),
    );
    ok(results(cloud.ctl).every((p) => p.payload[0] === 0x1f && p.payload[1] === 0x8b));
    await uplink.stop();
    await cloud.close();
  });
});
