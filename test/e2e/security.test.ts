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
    const socket = connect(Number(url.port), url.hostname);
    stops.push(async () => socket.destroy());
    await once(socket, "connect");
    socket.write(
      generate({
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: 4,
        clientId: "big",
        clean: true,
        keepalive: 60,
      }),
    );
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
});
