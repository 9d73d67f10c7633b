/**
 * `brook demo`: the whole slice in one process on loopback — an embedded edge broker, a
 * simulated fleet, the agent, a second broker standing in for the cloud, and the cloud
 * sink writing `<dataDir>/cloud.db`. One process keeps start-up instant and Ctrl-C simple.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import mqtt from "mqtt";
import { CloudSink } from "../cloud-sync/sink.js";
import { SinkStore } from "../cloud-sync/sink-store.js";
import { Fleet } from "../simulators/fleet.js";
import { parseConfig } from "./config/load.js";
import { Agent } from "./runtime/agent.js";
import { type EmbeddedBroker, startEmbeddedBroker } from "./runtime/broker.js";
import { createLogger } from "./runtime/log.js";
import { stopRequested } from "./runtime/signals.js";
import { type Stop, stopAll } from "./runtime/stop-all.js";

export const DEMO_RULES_YAML = `# Rules for \`brook demo\`, written on its first start. Edit them and run the demo again.
rules:
  - name: per-second
    window: { type: tumbling, size: 1s }
    aggregates: [count, mean, min, max]
  - name: per-10s
    window: { type: tumbling, size: 10s }
    aggregates: [count, mean, min, max, p95]
  - name: spikes
    window: { type: count, n: 60, every: 60 }
    aggregates: [mean, stddev]
    detectors:
      - { type: zscore, threshold: 4, minSamples: 30 }
`;

export interface DemoOptions {
  dataDir: string;
  durationMs?: number;
  edgePort: number;
  cloudPort: number;
  httpPort: number;
  sensors: number;
  hz: number;
  print?: (line: string) => void;
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const logger = createLogger(process.env.BROOK_LOG_LEVEL ?? "warn");
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const rulesFile = join(dataDir, "demo-rules.yaml");
  if (!existsSync(rulesFile)) writeFileSync(rulesFile, DEMO_RULES_YAML);

  // Set up first so Ctrl-C or --duration work even while starting.
  const stopping = stopRequested(options.durationMs);
  // Each part registers how to stop it; they stop in reverse order, also when start-up fails.
  const stops: Stop[] = [];
  try {
    const edgePort = await portOrFree(options.edgePort, "edge broker", print);
    const cloudPort = await portOrFree(options.cloudPort, "cloud broker", print);
    const httpPort = await portOrFree(options.httpPort, "HTTP endpoint", print);
    const cloud: EmbeddedBroker = await startEmbeddedBroker("127.0.0.1", cloudPort, "cloud");
    stops.push(() => cloud.close());
    const cloudDb = join(dataDir, "cloud.db");
    const store = new SinkStore(cloudDb);
    stops.push(() => {
      store.closeNow();
      return undefined;
    });
    const sinkClient = mqtt.connect(cloud.url, {
      clientId: "brook-demo-cloud-sink",
      reconnectPeriod: 500,
    });
    const sink = new CloudSink({
      client: sinkClient,
      store,
      onStoreError: (err) => logger.error({ err: err.message }, "cloud sink store failed"),
    });
    let agent: Agent | undefined;
    stops.push(async () => {
      // Let the sink commit what the cloud broker has already acknowledged to the agent.
      const deadline = Date.now() + 400;
      while (
        agent !== undefined &&
        Date.now() < deadline &&
        sink.resultsReceived() < agent.status().uplinkAcknowledged
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await sinkClient.endAsync();
    });
    await sink.subscribe();

    // The demo's config goes through the same validation and defaults as a user's file.
    // aedes speaks MQTT 3.1.1 only, so the uplink starts there.
    const config = parseConfig(
      join(dataDir, "demo-config.yaml"),
      [
        "device: demo-pi",
        `edge: { embedded: { host: 127.0.0.1, port: ${edgePort} } }`,
        `rules: ${JSON.stringify(rulesFile)}`,
        `dataDir: ${JSON.stringify(dataDir)}`,
        `uplink: { url: ${JSON.stringify(cloud.url)}, clientId: brook-demo-pi, protocol: "3.1.1" }`,
        `http: { host: 127.0.0.1, port: ${httpPort} }`,
        "",
      ].join("\n"),
    );
    agent = await Agent.start(config, { logger });
    const running = agent;
    stops.push(() => running.stop(1_000));

    const fleet = new Fleet({
      devices: Math.ceil(options.sensors / 4),
      sensorsPerDevice: Math.min(4, options.sensors),
      seed: 42,
      spikeProbability: 0.002,
    });
    const publisher = mqtt.connect(running.edgeUrl, { clientId: "brook-demo-fleet" });
    const publishTimer = setInterval(
      () => {
        if (!publisher.connected) return;
        for (const r of fleet.tick(Date.now()).slice(0, options.sensors)) {
          publisher.publish(r.topic, JSON.stringify({ ts: r.ts, value: r.value }), { qos: 0 });
        }
      },
      Math.round(1000 / options.hz),
    );
    stops.push(() => {
      clearInterval(publishTimer);
      return publisher.endAsync(true);
    });

    print(
      `brook demo: ${options.sensors} sensors at ${options.hz} Hz → edge ${running.edgeUrl} → agent → cloud ${cloud.url} → ${cloudDb}`,
    );
    print(
      `live view: http://127.0.0.1:${running.httpPort}/   (brook status --url http://127.0.0.1:${running.httpPort})`,
    );
    print(
      `rules: ${rulesFile}   metrics: http://127.0.0.1:${running.httpPort}/metrics   stop: Ctrl-C`,
    );
    const started = Date.now();
    let lastReadings = 0;
    const statusTimer = setInterval(() => {
      const s = running.status();
      const perSecond = s.counters.readings - lastReadings;
      lastReadings = s.counters.readings;
      const secs = Math.round((Date.now() - started) / 1000);
      print(
        `[${String(secs).padStart(3)}s] readings/s ${String(perSecond).padStart(5)} | windows closed ${s.counters.windowsClosed} | alerts ${s.engine.alerts} | outbox ${s.outboxDepth} | uplink ${s.uplink} | cloud rows ${store.countNow()}`,
      );
    }, 1000);
    stops.push(() => {
      clearInterval(statusTimer);
      return undefined;
    });

    await stopping;
    const stopStarted = Date.now();
    const openWindows = running.status().openWindows;
    await stopAll(stops);
    const s = running.status();
    const rows = countRows(cloudDb);
    print(
      `stopped in ${Date.now() - stopStarted} ms: ${s.counters.readings} readings, ${s.counters.windowsClosed} windows closed, ${openWindows} open windows checkpointed for the next start, ${s.outboxDepth} left in the outbox, ${rows} rows in ${cloudDb}`,
    );
  } finally {
    await stopAll(stops);
  }
}

function countRows(file: string): number {
  const store = new SinkStore(file);
  const n = store.countNow();
  store.closeNow();
  return n;
}

/** The preferred port if it is free, else any free loopback port (the demo must start anywhere). */
async function portOrFree(
  preferred: number,
  what: string,
  print: (line: string) => void,
): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(undefined));
      server.listen(port, "127.0.0.1", () => {
        const addr = server.address();
        const bound = typeof addr === "object" && addr !== null ? addr.port : port;
        server.close(() => resolve(bound));
      });
    });
  if ((await tryListen(preferred)) !== undefined) return preferred;
  const free = (await tryListen(0)) as number;
  print(`note: port ${preferred} is taken, so the demo's ${what} uses 127.0.0.1:${free}`);
  return free;
}
