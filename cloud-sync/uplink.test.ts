import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { record } from "./outbox.abstract.js";
import { SqliteOutbox } from "./sqlite-outbox.js";
import { type LinkState, Uplink } from "./uplink.js";

/**
 * A cloud broker on a port held from the start: while `down`, connections are dropped at
 * once; PUBACKs can be held back. (cloud-sync depends on nothing of ours, so the test
 * brings its own broker.)
 */
async function cloudBroker() {
  const broker = await Aedes.createBroker();
  const ctl = {
    down: true,
    holdAcks: false,
    held: [] as (() => void)[],
    published: [] as string[],
    onHeld: () => {},
  };
  broker.authorizePublish = (_client, packet, callback) => {
    ctl.published.push(packet.topic);
    if (!ctl.holdAcks) return callback(null);
    ctl.held.push(() => callback(null));
    ctl.onHeld();
  };
  const server: Server = createServer((socket) =>
    ctl.down ? socket.destroy() : broker.handle(socket),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const close = async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { ctl, url: `mqtt://127.0.0.1:${port}`, close };
}

describe("uplink", () => {
  it("keeps records while the broker is down and deletes each only after its PUBACK", async () => {
    const cloud = await cloudBroker();
    const outbox = new SqliteOutbox(
      join(mkdtempSync(join(tmpdir(), "brook-uplink-")), "outbox.db"),
    );
    outbox.append([record("a"), record("b"), record("c")], 1);
    const states: LinkState[] = [];
    const client = mqtt.connect(cloud.url, { reconnectPeriod: 50, clientId: "uplink-test" });
    const uplink = new Uplink({ outbox, client, onStateChange: (s) => states.push(s) });
    await new Promise<void>((resolve) => client.once("close", () => resolve()));
    strictEqual(uplink.state, "offline");
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

    for (const ack of cloud.ctl.held.splice(0)) ack();
    strictEqual(await uplink.waitIdle(10_000), true);
    strictEqual(outbox.depth(), 0);
    deepStrictEqual(cloud.ctl.published, ["brook/d/agg/a", "brook/d/agg/b", "brook/d/agg/c"]);
    strictEqual(uplink.acknowledged, 3);
    deepStrictEqual(states.slice(-1), ["live"]);

    await uplink.stop();
    outbox.close();
    await cloud.close();
  });
});
