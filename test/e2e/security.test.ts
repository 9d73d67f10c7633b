/**
 * The embedded broker's security, against an agent on 127.0.0.1 with real MQTT clients:
 * credentials from a `brook passwd` file, the default ACL (a sensor publishes and subscribes
 * only under sensors/<its user>/), the agent's own topics closed to clients, TLS with
 * client certificates, and the limits (connections, packet size, publish rate). Every
 * refusal is counted by reason (brook_edge_refused_total).
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { type EventEmitter, once } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import mqtt from "mqtt";
import { generate } from "mqtt-packet";
import { parseConfig } from "../../agent/config/load.js";
import { Agent } from "../../agent/runtime/agent.js";
import { createLogger } from "../../agent/runtime/log.js";
import { formatPasswords, hashPassword } from "../../agent/runtime/passwords.js";
import { clientCertificate, makeCertificates } from "../helpers/certs.js";
import { eventually, freePort, stopAfterAll } from "../helpers/process.js";
import { rawMqttClient } from "../helpers/raw-mqtt.js";

async function agentWith(dir: string, edge: string): Promise<Agent> {
  const config = parseConfig(
    join(dir, "config.yaml"),
    `device: d\nedge: { embedded: ${edge} }\ndataDir: ./data\nhttp: { enabled: false }\n`,
  );
  return Agent.start(config, { logger: createLogger("silent") });
}

describe("embedded broker security", () => {
  const stops = stopAfterAll();

  it("refuses to listen beyond loopback without authentication, saying what to configure", () => {
    try {
      parseConfig("/x/config.yaml", "device: d\nedge: { embedded: { host: 0.0.0.0 } }\n");
      ok(false, "accepted");
    } catch (err) {
      const message = (err as Error).message;
      ok(message.includes("edge.embedded.host") && message.includes("brook passwd"), message);
    }
    // Deliberately open is allowed, and a credentials file makes it safe.
    parseConfig(
      "/x/config.yaml",
      "device: d\nedge: { embedded: { host: 0.0.0.0, auth: { allowAnonymous: true } } }\n",
    );
  });

  it("authenticates with the credentials file, and holds each sensor to its own prefix", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-security-"));
    writeFileSync(
      join(dir, "passwd"),
      formatPasswords(
        new Map([
          ["pump-1", hashPassword("pump-1 secret", 10)],
          ["dash", hashPassword("dash secret", 10)],
        ]),
      ),
    );
    const agent = await agentWith(
      dir,
      `{ port: 0, auth: { passwords: passwd }, acl: [{ user: "*", publish: ["sensors/{user}/#"], subscribe: ["sensors/{user}/#"] }, { user: dash, subscribe: ["brook/#"] }] }`,
    );
    stops.push(() => agent.stop(0));
    const url = agent.edgeUrl;
    await rejects(
      mqtt.connectAsync(url, { username: "pump-1", password: "wrong", reconnectPeriod: 0 }),
    );
    await rejects(mqtt.connectAsync(url, { reconnectPeriod: 0 })); // anonymous
    const sensor = await mqtt.connectAsync(url, { username: "pump-1", password: "pump-1 secret" });
    stops.push(() => sensor.endAsync(true));
    await sensor.publishAsync("sensors/pump-1/temp", '{"value": 1}', { qos: 1 });
    deepStrictEqual((await sensor.subscribeAsync("sensors/pump-1/#"))[0]?.qos, 0);
    await rejects(sensor.subscribeAsync("brook/#"), /Subscribe error/); // alerts: refused (SUBACK 0x80)
    const dash = await mqtt.connectAsync(url, { username: "dash", password: "dash secret" });
    stops.push(() => dash.endAsync(true));
    deepStrictEqual((await dash.subscribeAsync("brook/#"))[0]?.qos, 0);
    // Another sensor's prefix: refused, the connection closed, nothing taken.
    const closed = once(sensor as unknown as EventEmitter, "close");
    sensor.publish("sensors/pump-2/temp", '{"value": 99}', { qos: 1 });
    await closed;
    await eventually(
      () => (agent.status().counters.refused.acl_publish === 1 ? true : undefined),
      5_000,
      "the refusal",
    );
    deepStrictEqual(
      {
        readings: agent.status().counters.readings,
        refused: agent.status().counters.refused,
      },
      {
        readings: 1,
        refused: {
          auth: 2,
          acl_publish: 1,
          acl_subscribe: 1,
          own_topic: 0,
          connections: 0,
          packet_too_large: 0,
          revoked: 0,
        },
      },
    );
  });

  it("keeps the agent's own topics to itself even for local clients of an open broker", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-security-"));
    const agent = await agentWith(dir, "{ port: 0 }");
    stops.push(() => agent.stop(0));
    const client = await mqtt.connectAsync(agent.edgeUrl, { reconnectPeriod: 0 });
    stops.push(() => client.endAsync(true));
    const closed = once(client as unknown as EventEmitter, "close");
    client.publish("brook/d/alert/spikes/x", '{"forged": true}', { qos: 1 });
    await closed;
    strictEqual(agent.status().counters.refused.own_topic, 1);
  });

  it("over TLS, identifies sensors by their client certificates, and refuses one without", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-security-tls-"));
    const certs = makeCertificates(dir);
    const client = clientCertificate(dir, "pump-7");
    const tlsPort = await freePort();
    const agent = await agentWith(
      dir,
      `{ port: 0, tls: { port: ${tlsPort}, cert: ${certs.cert}, key: ${certs.key}, ca: ${certs.ca}, requireClientCert: true } }`,
    );
    stops.push(() => agent.stop(0));
    const url = `mqtts://localhost:${tlsPort}`;
    const sensor = await mqtt.connectAsync(url, {
      ca: readFileSync(certs.ca),
      cert: readFileSync(client.cert),
      key: readFileSync(client.key),
    });
    stops.push(() => sensor.endAsync(true));
    await sensor.publishAsync("sensors/pump-7/temp", '{"value": 1}', { qos: 1 });
    strictEqual(agent.status().counters.readings, 1);
    await rejects(
      mqtt.connectAsync(url, {
        ca: readFileSync(certs.ca),
        reconnectPeriod: 0,
        connectTimeout: 2_000,
      }),
    );
    // The plain listener takes no anonymous client either.
    await rejects(mqtt.connectAsync(agent.edgeUrl, { reconnectPeriod: 0 }));
  });

  it("limits connections and packet sizes (an oversized packet refused at its header), and slows a fast client down without dropping", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-security-limits-"));
    const agent = await agentWith(
      dir,
      "{ port: 0, limits: { maxConnections: 2, maxPacketBytes: 1KiB, publishRate: 100 } }",
    );
    stops.push(() => agent.stop(0));
    const url = new URL(agent.edgeUrl);
    // A 5 MB publish: its header says so, and the connection closes before the body is sent.
    const socket = await rawMqttClient(Number(url.port), "big", stops);
    const header = generate({
      cmd: "publish",
      topic: "sensors/x/y",
      payload: Buffer.alloc(5_000_000),
      qos: 0,
      retain: false,
      dup: false,
    }).subarray(0, 32);
    socket.write(header);
    await once(socket, "close");
    strictEqual(agent.status().counters.refused.packet_too_large, 1);
    // Two connections at once, not three.
    const a = await mqtt.connectAsync(agent.edgeUrl);
    const b = await mqtt.connectAsync(agent.edgeUrl);
    stops.push(
      () => a.endAsync(true),
      () => b.endAsync(true),
    );
    const third = connect(Number(url.port), url.hostname);
    stops.push(async () => third.destroy());
    await once(third, "close"); // closed as soon as it came
    strictEqual(agent.status().counters.refused.connections, 1);
    // 300 QoS 1 readings from one client at 100/s: all taken, none dropped, slowed down.
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        a.publishAsync(`sensors/a/t`, `{"ts": ${1_700_000_000_000 + i}, "value": ${i}}`, {
          qos: 1,
        }),
      ),
    );
    ok(Date.now() - started >= 1_500, `300 readings at 100/s took ${Date.now() - started} ms`);
    strictEqual(agent.status().counters.readings, 300);
    ok(agent.status().counters.throttled > 0);
  });
  it("a user removed from the credentials file, or given another password, is disconnected and connects again only with what the file says now", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-security-revoke-"));
    const file = join(dir, "passwd");
    const users = new Map([
      ["pump-1", hashPassword("pump-1 secret", 10)],
      ["pump-2", hashPassword("pump-2 secret", 10)],
    ]);
    writeFileSync(file, formatPasswords(users));
    const agent = await agentWith(dir, "{ port: 0, auth: { passwords: passwd } }");
    stops.push(() => agent.stop(0));
    const url = agent.edgeUrl;
    const options = (user: string, password: string) => ({
      username: user,
      password,
      reconnectPeriod: 0,
    });
    const one = await mqtt.connectAsync(url, options("pump-1", "pump-1 secret"));
    const two = await mqtt.connectAsync(url, options("pump-2", "pump-2 secret"));
    stops.push(
      () => one.endAsync(true),
      () => two.endAsync(true),
    );
    const closed = once(one as unknown as EventEmitter, "close");
    users.delete("pump-1");
    users.set("pump-2", hashPassword("pump-2 new secret", 10));
    writeFileSync(file, formatPasswords(users));
    agent.reloadCredentials(); // what SIGHUP does, and the agent's look at the file every 2 s
    await closed;
    await once(two as unknown as EventEmitter, "close");
    strictEqual(agent.status().counters.refused.revoked, 2);
    await rejects(mqtt.connectAsync(url, options("pump-1", "pump-1 secret")));
    await rejects(mqtt.connectAsync(url, options("pump-2", "pump-2 secret")));
    const again = await mqtt.connectAsync(url, options("pump-2", "pump-2 new secret"));
    stops.push(() => again.endAsync(true));
    // A file that no longer parses keeps the users before it.
    writeFileSync(file, "pump-2:not a hash\n");
    agent.reloadCredentials();
    const still = await mqtt.connectAsync(url, options("pump-2", "pump-2 new secret"));
    stops.push(() => still.endAsync(true));
  });

  it("a certificate whose common name is no user name is refused (no {clientid} in an ACL through it)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-security-cn-"));
    const certs = makeCertificates(dir);
    const client = clientCertificate(dir, "{clientid}");
    const tlsPort = await freePort();
    const agent = await agentWith(
      dir,
      `{ port: 0, tls: { port: ${tlsPort}, cert: ${certs.cert}, key: ${certs.key}, ca: ${certs.ca}, requireClientCert: true } }`,
    );
    stops.push(() => agent.stop(0));
    await rejects(
      mqtt.connectAsync(`mqtts://localhost:${tlsPort}`, {
        clientId: "pump-2",
        ca: readFileSync(certs.ca),
        cert: readFileSync(client.cert),
        key: readFileSync(client.key),
        reconnectPeriod: 0,
      }),
    );
    strictEqual(agent.status().counters.refused.auth, 1);
  });

  it("keeps retained messages and queues for persistent subscribers within their bounds, and counts what it did not keep", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-security-kept-"));
    const agent = await agentWith(
      dir,
      "{ port: 0, limits: { maxRetainedBytes: 100KiB, maxQueuedBytes: 100KiB } }",
    );
    stops.push(() => agent.stop(0));
    const url = agent.edgeUrl;
    const payload = Buffer.alloc(40 * 1024, 1);
    const publisher = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    stops.push(() => publisher.endAsync(true));
    for (const t of ["a", "b", "c"])
      await publisher.publishAsync(`other/${t}`, payload, { qos: 1, retain: true });
    const reader = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    stops.push(() => reader.endAsync(true));
    const retained: string[] = [];
    reader.on("message", (topic) => retained.push(topic));
    await reader.subscribeAsync("other/#", { qos: 1 });
    await eventually(() => (retained.length >= 2 ? true : undefined), 5_000, "retained");
    deepStrictEqual(retained.sort(), ["other/a", "other/b"]);
    // A persistent subscriber away: two of five deliveries fit its queue.
    const away = await mqtt.connectAsync(url, {
      clientId: "away",
      clean: false,
      reconnectPeriod: 0,
    });
    await away.subscribeAsync("queue/#", { qos: 1 });
    await away.endAsync();
    for (let i = 0; i < 5; i++) await publisher.publishAsync("queue/x", payload, { qos: 1 });
    // (aedes queues a message after it acknowledged it to its publisher)
    await eventually(
      () => (agent.status().counters.edgeDropped.queue_full >= 3 ? true : undefined),
      5_000,
      "the deliveries not queued",
    );
    deepStrictEqual(agent.status().counters.edgeDropped, { queue_full: 3, retained_full: 1 });
    const back = await mqtt.connectAsync(url, {
      clientId: "away",
      clean: false,
      reconnectPeriod: 0,
    });
    stops.push(() => back.endAsync(true));
    const queued: string[] = [];
    back.on("message", (topic) => queued.push(topic));
    await eventually(() => (queued.length >= 2 ? true : undefined), 5_000, "queued");
    strictEqual(queued.length, 2);
  });
});
