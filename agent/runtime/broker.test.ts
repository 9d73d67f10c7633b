/**
 * The embedded broker: the agent's in-process subscription, and delivery to clients that
 * aedes alone would skip. Real TCP clients (mqtt.js) on 127.0.0.1, free ports.
 */
import { deepStrictEqual, rejects, strictEqual, throws } from "node:assert/strict";
import { once } from "node:events";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { describe, it } from "node:test";
import type { Aedes, AedesPublishPacket } from "aedes";
import mqtt from "mqtt";
import { generate } from "mqtt-packet";
import { stopAfterAll } from "../../test/helpers/process.js";
import { rawMqttClient } from "../../test/helpers/raw-mqtt.js";

const numbers = createRequire(import.meta.url)("mqtt-packet/numbers.js") as {
  cache: Record<number, Buffer>;
};

import { publishInProcess, READ_SLICE_BYTES, routeOnlyWhenHeard } from "./aedes-patches.js";
import { LocalSubscriber, startEmbeddedBroker } from "./broker.js";

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

/** A QoS 0 PUBLISH packet, as a sensor's client would write it. */
function publishPacket(topic: string, payload: string | Buffer): Buffer {
  return generate({ cmd: "publish", topic, payload, qos: 0, retain: false, dup: false });
}

/** A promise and the function that resolves it. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** `n` QoS 0 PUBLISH packets on `burst/s`, payloads "0", "1", ... */
function burst(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => publishPacket("burst/s", String(i)));
}

/**
 * An embedded broker with the agent's in-process subscription (made before it listens, as
 * the agent does): `deliver` gets each message; an error it throws fails the test unless
 * `failed` takes it.
 */
async function withLocal(
  stops: (() => Promise<unknown>)[],
  deliver: (aedes: Aedes, topic: string, payload: Buffer) => void,
  failed: (err: unknown, topic: string) => void = (err) => {
    throw err;
  },
) {
  let local: LocalSubscriber | undefined;
  const broker = await startEmbeddedBroker("127.0.0.1", 0, "edge", (aedes) => {
    local = new LocalSubscriber(aedes, (topic, payload) => deliver(aedes, topic, payload), failed);
  });
  stops.push(() => broker.close());
  if (local === undefined) throw new Error("prepare did not run");
  return { broker, local };
}

/**
 * An embedded broker whose in-process subscription to `burst/#` records each payload as a
 * number; `onReading` runs after each.
 */
async function burstBroker(
  stops: (() => Promise<unknown>)[],
  onReading: (aedes: Aedes, handed: number[]) => void,
) {
  const handed: number[] = [];
  const { broker, local } = await withLocal(stops, (aedes, _topic, payload) => {
    handed.push(Number(payload.toString()));
    onReading(aedes, handed);
  });
  await local.add(["burst/#"]);
  return { broker, handed };
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
    // Packets with ids were written (the QoS 1 one): mqtt-packet made no cache of numbers.
    // The switch is the copy aedes writes with: the one this process loads.
    strictEqual(Object.keys(numbers.cache).length, 0);
    const require = createRequire(import.meta.url);
    strictEqual(
      createRequire(require.resolve("aedes"))("mqtt-packet"),
      require("mqtt-packet"),
      "aedes writes with the mqtt-packet the agent switches",
    );
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
    const { broker, local } = await withLocal(stops, (_aedes, topic, payload) => {
      delivered.push([topic, payload.toString()]);
    });
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
    const { broker, local } = await withLocal(
      stops,
      (_aedes, _topic, payload) => {
        if (payload.toString() === "bad") throw new Error("a bug");
      },
      (err, topic) => failures.push(`${topic}: ${(err as Error).message}`),
    );
    await local.add(["sensors/#"]);
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

  it("a burst from one connection is handled a slice at a time: a result published while its first reading is handled is written to its subscriber before the next slice is handled; every reading is handed over, in order, also when the connection closes behind it", {
    timeout: 20_000,
  }, async () => {
    const N = 3_000;
    const all = deferred<void>();
    /** how many readings had been handed over when the result's publish completed */
    const published = deferred<number>();
    const { broker, handed } = await burstBroker(stops, (aedes, handed) => {
      // The first reading's result, published as the agent publishes its alerts.
      if (handed.length === 1)
        publishInProcess(aedes, "alerts/1", Buffer.from("alert"), 1, () =>
          published.resolve(handed.length),
        );
      if (handed.length === N) all.resolve();
    });
    const sub = await subscriber(broker.url, ["alerts/#"], stops);
    const alert = sub.next("alerts/1");

    // A sensor's backlog in one TCP write, as after a stall, and the sensor gone at once:
    // what it sent is still handed over, slices after its FIN.
    const sensor = await rawMqttClient(broker.port, "burst-sensor", stops);
    const packets = burst(N);
    sensor.end(Buffer.concat(packets));

    const [handledFirst] = await Promise.all([published.promise, all.promise, alert]);
    deepStrictEqual(
      handed,
      Array.from({ length: N }, (_, i) => i),
    );
    // Read all at once, the whole first read (up to 64 KiB, thousands of readings) was handled
    // before the result was out; a slice at a time, only the first slice was. (The result
    // takes about 3 turns of the event loop, the wait is up to 8: no timing involved.)
    const smallest = Math.min(...packets.map((p) => p.length));
    const oneSlice = Math.floor(READ_SLICE_BYTES / smallest);
    deepStrictEqual(
      handledFirst <= oneSlice,
      true,
      `${handledFirst} readings handled before the result was out (at most ${oneSlice})`,
    );
  });

  it("a result held up by a subscriber that stops reading does not hold up the next slices of a sensor's input", {
    timeout: 20_000,
  }, async () => {
    const N = 3_000;
    const all = deferred<void>();
    const { broker, handed } = await burstBroker(stops, (_aedes, handed) => {
      if (handed.length === N) all.resolve();
    });
    const stuck = await rawMqttClient(broker.port, "stuck-dashboard", stops);
    stuck.write(
      generate({
        cmd: "subscribe",
        messageId: 1,
        subscriptions: [{ topic: "alerts/#", qos: 0 }],
      }),
    );
    const [suback] = (await once(stuck, "data")) as [Buffer];
    deepStrictEqual([...suback], [0x90, 3, 0, 1, 0]);
    stuck.pause();
    // Far more than the loopback's socket buffers hold: the broker waits for a drain that
    // does not come while the dashboard reads nothing.
    let written = false;
    publishInProcess(broker.aedes, "alerts/big", Buffer.alloc(32 * 1024 * 1024), 1, () => {
      written = true;
    });

    const sensor = await rawMqttClient(broker.port, "burst-sensor", stops);
    sensor.write(Buffer.concat(burst(N)));
    await all.promise;
    deepStrictEqual(handed.length, N);
    deepStrictEqual(written, false);
  });

  it("a packet larger than a slice is handed over whole with nothing after it, and the connection's end is seen", {
    timeout: 20_000,
  }, async () => {
    const big = deferred<string>();
    const { broker, local } = await withLocal(stops, (_aedes, _topic, payload) =>
      big.resolve(payload.toString()),
    );
    await local.add(["big/#"]);
    const sensor = await rawMqttClient(broker.port, "big-sensor", stops);
    const payload = "x".repeat(20 * READ_SLICE_BYTES);
    sensor.write(publishPacket("big/1", payload));
    deepStrictEqual(await big.promise, payload);
    // A FIN with no DISCONNECT: the broker closes its side.
    const closed = once(sensor, "close");
    sensor.end();
    await closed;
  });

  it("publishInProcess calls back once, also when the broker calls back at once and the callback throws", async () => {
    const broker = await startEmbeddedBroker("127.0.0.1", 0);
    stops.push(() => broker.close());
    const errors: string[] = [];
    // aedes refuses a topic of too many levels before it returns.
    const tooDeep = Array(101).fill("a").join("/");
    throws(
      () =>
        publishInProcess(broker.aedes, tooDeep, Buffer.alloc(0), 0, (err) => {
          errors.push(err?.message ?? "none");
          throw new Error("the caller's own error");
        }),
      /the caller's own error/,
    );
    deepStrictEqual(errors, ["topic has too many levels"]);
  });

  it("a sensor's message the agent took is routed only while another subscription matches it: a connected client's, a persistent session's offline, or a retained message", {
    timeout: 20_000,
  }, async () => {
    const taken = new WeakSet<object>();
    const routed: string[] = [];
    let local: LocalSubscriber | undefined;
    const broker = await startEmbeddedBroker("127.0.0.1", 0, "edge", (aedes) => {
      // As the agent does: its messages (`sensors/#`) taken in authorizePublish.
      aedes.authorizePublish = (_client, packet, callback) => {
        if (packet.topic.startsWith("sensors/")) taken.add(packet.payload as object);
        callback(null);
      };
      local = new LocalSubscriber(
        aedes,
        () => undefined,
        () => undefined,
      );
      // Beneath the patch: what goes on to be routed.
      const route = aedes.publish.bind(aedes);
      aedes.publish = ((packet: AedesPublishPacket, client: unknown, done: () => void) => {
        if (client && !packet.topic.startsWith("$SYS")) routed.push(packet.topic);
        return (route as (...args: unknown[]) => void)(packet, client, done);
      }) as Aedes["publish"];
      routeOnlyWhenHeard(
        aedes,
        (packet) => taken.has(packet.payload as object),
        (notify) => local?.owns(notify) === true,
      );
    });
    stops.push(() => broker.close());
    await local?.add(["sensors/#"]);
    const pub = await mqtt.connectAsync(broker.url);
    stops.push(() => pub.endAsync());
    const send = (topic: string, retain = false) =>
      pub.publishAsync(topic, topic, { qos: 1, retain });

    // No one else subscribes: the agent's in-process subscription does not count.
    await pub.publishAsync("sensors/a", "0", { qos: 0 });
    await send("sensors/b");
    await send("other/x");
    deepStrictEqual(routed, ["other/x"]);

    // A connected client's subscription: only its topic is routed, while it lasts.
    const sub = await subscriber(broker.url, ["sensors/a"], stops);
    const arrived = sub.next("sensors/a");
    await send("sensors/b");
    await send("sensors/a");
    await arrived;
    deepStrictEqual(routed, ["other/x", "sensors/a"]);
    await sub.client.unsubscribeAsync("sensors/a");
    await send("sensors/a");
    deepStrictEqual(routed, ["other/x", "sensors/a"]);

    // A retained message is routed (and kept) though no one subscribes.
    await send("sensors/r", true);
    deepStrictEqual(routed, ["other/x", "sensors/a", "sensors/r"]);
    const late = await mqtt.connectAsync(broker.url);
    stops.push(() => late.endAsync());
    const retained = new Promise<string>((resolve) => late.once("message", resolve));
    await late.subscribeAsync("sensors/r");
    deepStrictEqual(await retained, "sensors/r");

    // A persistent session, subscribed and gone: its messages are queued for it.
    const session = { clientId: "dashboard", clean: false };
    const away = await mqtt.connectAsync(broker.url, session);
    await away.subscribeAsync("sensors/+", { qos: 1 });
    await away.endAsync();
    await send("sensors/c");
    deepStrictEqual(routed.at(-1), "sensors/c");
    const back = mqtt.connect(broker.url, { ...session, manualConnect: true });
    stops.push(() => back.endAsync());
    const queued = new Promise<string>((resolve) => back.once("message", resolve));
    back.connect();
    deepStrictEqual(await queued, "sensors/c");
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
