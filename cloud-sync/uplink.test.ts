import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { freePort } from "../test/helpers/process.js";
import { record } from "./outbox.abstract.js";
import { SqliteOutbox } from "./sqlite-outbox.js";
import { type LinkState, Uplink } from "./uplink.js";

describe("uplink", () => {
  it("keeps records while the broker is down and deletes each only once it is acknowledged", async () => {
    const port = await freePort();
    const outbox = new SqliteOutbox(
      join(mkdtempSync(join(tmpdir(), "brook-uplink-")), "outbox.db"),
    );
    outbox.append([record("a"), record("b"), record("c")], 1);
    const states: LinkState[] = [];
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      reconnectPeriod: 50,
      clientId: "uplink-test",
    });
    const uplink = new Uplink({ outbox, client, onStateChange: (s) => states.push(s) });
    await new Promise<void>((resolve) => client.once("close", () => resolve()));
    strictEqual(uplink.state, "offline");
    strictEqual(outbox.depth(), 3);

    // cloud-sync depends on nothing of ours, so the test brings its own broker.
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    const received: string[] = [];
    broker.on("publish", (packet, from) => {
      if (from !== null) received.push(packet.topic);
    });
    strictEqual(await uplink.waitIdle(10_000), true);
    strictEqual(outbox.depth(), 0);
    deepStrictEqual(received, ["brook/d/agg/a", "brook/d/agg/b", "brook/d/agg/c"]);
    strictEqual(uplink.acknowledged, 3);
    deepStrictEqual(states.slice(-1), ["live"]);

    await uplink.stop();
    outbox.close();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
