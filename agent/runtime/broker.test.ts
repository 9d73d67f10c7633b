/**
 * The embedded broker: the agent's in-process subscription, and delivery to clients that
 * aedes alone would skip. Real TCP clients (mqtt.js) on 127.0.0.1, free ports.
 */
import { deepStrictEqual, rejects } from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { describe, it } from "node:test";
import type { Aedes } from "aedes";
import mqtt from "mqtt";
import { stopAfterAll } from "../../test/helpers/process.js";
import { LocalSubscriber, publishInProcess, startEmbeddedBroker } from "./broker.js";

/** Publishes in-process and resolves once the broker has routed the message. */
function publish(aedes: Aedes, topic: string, qos: 0 | 1, payload = topic): Promise<void> {
  return new Promise((resolve, reject) =>
    publishInProcess(aedes, topic, Buffer.from(payload), qos, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
}

/** A client subscribed to `filters`, recording the topics it receives, in order. */
async function subscriber(url: string, filters: string[], stops: (() => Promise<unknown>)[]) {
  const client = await mqtt.connectAsync(url);
  stops.push(() => client.endAsync());
  const received: string[] = [];
  const waiting = new Map<string, () => void>();
  client.on("message", (topic) => {
    received.push(topic);
    waiting.get(topic)?.();
  });
  await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    received,
    /** Resolves when `topic` arrives; the broker writes to one client in order. */
    next: (topic: string) => new Promise<void>((resolve) => waiting.set(topic, resolve)),
  };
}

describe("embedded broker", () => {
  const stops = stopAfterAll();

  it("a subscriber gets a QoS 1 message even when a QoS 0 one published just after it overtakes it (moscajs/aedes#994)", async () => {
    const broker = await startEmbeddedBroker("127.0.0.1", 0);
    stops.push(() => broker.close());
    const sub = await subscriber(broker.url, ["alerts/#", "readings/#"], stops);
    const marker = sub.next("end");
    await sub.client.subscribeAsync("end", { qos: 0 });
    // The QoS 1 message waits for the persistence; the QoS 0 one is routed at once, first.
    await Promise.all([
      publish(broker.aedes, "alerts/1", 1),
      publish(broker.aedes, "readings/1", 0),
    ]);
    await publish(broker.aedes, "end", 0);
    await marker;
    deepStrictEqual(sub.received, ["readings/1", "alerts/1", "end"]);
  });

  it("a message matching two of a client's subscriptions still reaches it once", async () => {
    const broker = await startEmbeddedBroker("127.0.0.1", 0);
    stops.push(() => broker.close());
    const sub = await subscriber(broker.url, ["site/#", "site/+", "end"], stops);
    const marker = sub.next("end");
    await publish(broker.aedes, "site/1", 1);
    await publish(broker.aedes, "site/2", 0);
    await publish(broker.aedes, "end", 0);
    await marker;
    deepStrictEqual(sub.received, ["site/1", "site/2", "end"]);
  });

  it("the agent's in-process subscription: a reading is handed over by the time its publisher has the PUBACK, once for overlapping filters, never a '$' topic to a wildcard filter", async () => {
    const delivered: [string, string][] = [];
    let local: LocalSubscriber | undefined;
    const broker = await startEmbeddedBroker("127.0.0.1", 0, "edge", (aedes) => {
      local = new LocalSubscriber(
        aedes,
        (topic, payload) => delivered.push([topic, payload.toString()]),
        (err) => {
          throw err;
        },
      );
    });
    stops.push(() => broker.close());
    if (local === undefined) throw new Error("prepare did not run");
    await local.add(["sensors/#", "sensors/+/temp", "#", "$SYS/+/reports"]);
    deepStrictEqual(local.filters, ["sensors/#", "sensors/+/temp", "#", "$SYS/+/reports"]);

    const pub = await mqtt.connectAsync(broker.url);
    stops.push(() => pub.endAsync());
    await pub.publishAsync("sensors/pump/temp", "21.5", { qos: 1 });
    // The PUBACK has come back (aedes sends it, then routes the message in the same turn,
    // before this process can read the PUBACK): the reading was handed over, only once.
    deepStrictEqual(delivered, [["sensors/pump/temp", "21.5"]]);

    await publish(broker.aedes, "$SYS/x/heartbeat", 0, "not for '#'");
    await publish(broker.aedes, "$SYS/x/reports", 0, "for '$SYS/+/reports'");
    deepStrictEqual(delivered.slice(1), [["$SYS/x/reports", "for '$SYS/+/reports'"]]);

    await local.remove(["sensors/#", "sensors/+/temp", "#"]);
    await pub.publishAsync("sensors/pump/temp", "22", { qos: 1 });
    deepStrictEqual(delivered.length, 2);
    deepStrictEqual(local.filters, ["$SYS/+/reports"]);

    // A filter the broker refuses (aedes allows 100 levels) is an error, not a silent no-op.
    await rejects(local.add([Array(101).fill("a").join("/")]), /too many levels/);
    deepStrictEqual(local.filters, ["$SYS/+/reports"]);
  });

  it("an error in the agent's handler is reported, and the message still reaches the broker's other subscribers and is acknowledged", async () => {
    const failures: string[] = [];
    let local: LocalSubscriber | undefined;
    const broker = await startEmbeddedBroker("127.0.0.1", 0, "edge", (aedes) => {
      local = new LocalSubscriber(
        aedes,
        (_topic, payload) => {
          if (payload.toString() === "bad") throw new Error("a bug");
        },
        (err, topic) => failures.push(`${topic}: ${(err as Error).message}`),
      );
    });
    stops.push(() => broker.close());
    await local?.add(["sensors/#"]);
    const sub = await subscriber(broker.url, ["sensors/#"], stops);
    const both = sub.next("sensors/2");
    const pub = await mqtt.connectAsync(broker.url);
    stops.push(() => pub.endAsync());
    await pub.publishAsync("sensors/1", "bad", { qos: 1 });
    await pub.publishAsync("sensors/2", "good", { qos: 0 });
    await both;
    deepStrictEqual(failures, ["sensors/1: a bug"]);
    deepStrictEqual(sub.received, ["sensors/1", "sensors/2"]);
  });

  it("stopAccepting also closes a connection whose CONNECT has not come yet", {
    timeout: 10_000,
  }, async () => {
    const broker = await startEmbeddedBroker("127.0.0.1", 0);
    stops.push(() => broker.close());
    const socket = connect(broker.port, "127.0.0.1");
    await once(socket, "connect");
    const closed = once(socket, "close");
    await broker.stopAccepting();
    await closed;
    deepStrictEqual(socket.destroyed, true);
  });
});
