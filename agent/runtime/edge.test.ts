/**
 * Both edge sources hold a QoS 1 message's acknowledgement until the agent releases it
 * (the reading log's commit): the embedded broker's PUBACK to the sensor, and the external
 * broker's client's PUBACK to that broker (agent/runtime/mqtt-patches.ts), reading on
 * meanwhile. Brokers here are aedes on 127.0.0.1.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { describe, it } from "node:test";
import mqtt from "mqtt";
import { VirtualClock } from "../../lib/clock.js";
import { eventually, stopAfterAll } from "../../test/helpers/process.js";
import { startEmbeddedBroker } from "./broker.js";
import { EdgeClient } from "./edge-client.js";
import { EmbeddedEdge } from "./edge-embedded.js";
import { createLogger } from "./log.js";

describe("edge sources hold acknowledgements", () => {
  const stops = stopAfterAll();

  it("the embedded broker acknowledges a sensor's QoS 1 message only once the agent releases it; QoS 0 and others' topics pass", async () => {
    const edge = new EmbeddedEdge({
      host: "127.0.0.1",
      port: 0,
      drainTopic: "drain",
      clock: new VirtualClock(0),
      logger: createLogger("silent"),
    });
    stops.push(() => edge.close());
    const taken: string[] = [];
    let release: (() => void) | undefined;
    await edge.start(
      {
        message: (topic, payload, meta, r) => {
          taken.push(`${topic} ${payload} qos${meta.qos} ${meta.client}`);
          if (meta.qos === 1) release = r;
          else r?.();
          return false;
        },
        failed: (err) => {
          throw err;
        },
      },
      ["sensors/+/+"],
      () => undefined,
    );
    const sensor = await mqtt.connectAsync(edge.url, { clientId: "s1" });
    stops.push(() => sensor.endAsync());
    let acked = false;
    const published = sensor.publishAsync("sensors/d/t", "1", { qos: 1 }).then(() => {
      acked = true;
    });
    await eventually(() => release, 5_000, "the message to reach the agent");
    await sensor.publishAsync("other/topic", "x", { qos: 1 }); // not the agent's: at once
    deepStrictEqual(acked, false);
    release?.();
    await published;
    await sensor.publishAsync("sensors/d/t", "2", { qos: 0 });
    await eventually(() => (taken.length === 2 ? true : undefined), 5_000, "the QoS 0 message");
    deepStrictEqual(taken, ["sensors/d/t 1 qos1 s1", "sensors/d/t 2 qos0 s1"]);
  });

  it("sends a message's PUBACK only once it is released, in order, and reads the next message meanwhile (mqtt.js internals: mqtt-patches.ts)", async () => {
    const broker = await startEmbeddedBroker("127.0.0.1", 0, "test");
    stops.push(() => broker.close());
    const acked: string[] = [];
    broker.aedes.on("ack", (packet) => {
      if (packet !== null && "topic" in packet) acked.push(packet.topic);
    });
    const edge = new EdgeClient({
      url: broker.url,
      clientId: "agent-ingest",
      drainTopic: "drain",
      clock: new VirtualClock(0),
      logger: createLogger("silent"),
    });
    stops.push(() => edge.close());
    const releases = new Map<string, () => void>();
    await edge.start(
      {
        message: (topic, _payload, meta, release) => {
          ok(release !== undefined && meta.qos === 1 && meta.mid > 0);
          releases.set(topic, release);
          return false;
        },
        failed: (err) => {
          throw err;
        },
      },
      ["in/#"],
      () => undefined,
    );
    ok(await edge.subscribed);
    const sensor = await mqtt.connectAsync(broker.url);
    stops.push(() => sensor.endAsync());
    await sensor.publishAsync("in/1", "a", { qos: 1 });
    await sensor.publishAsync("in/2", "b", { qos: 1 });
    // Both reached the agent though neither is released: the client read on.
    await eventually(() => (releases.size === 2 ? true : undefined), 5_000, "both messages");
    deepStrictEqual(acked, []);
    releases.get("in/1")?.();
    await eventually(() => (acked.length === 1 ? true : undefined), 5_000, "the first PUBACK");
    releases.get("in/2")?.();
    await eventually(() => (acked.length === 2 ? true : undefined), 5_000, "the second PUBACK");
    deepStrictEqual(acked, ["in/1", "in/2"]);
  });
});
