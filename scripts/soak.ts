/**
 * `npm run soak -- [--duration 10m] [--rate 2000] [--json]`: the whole pipeline for a long
 * while, with faults injected, to find what grows. Real processes: `brook agent` (embedded
 * broker), a cloud mosquitto with persistence, `brook cloud-sink`; this process publishes a
 * steady stream at QoS 1 (200 sensors) and, on a schedule, bursts (10,000 readings at
 * once), hostile payloads (not JSON, a 5 MB packet, a value nested 10,000 deep, wrong
 * topics, forged alerts), rules reloads (two rule sets in turn) and cloud broker restarts.
 * Every 5 s it samples the agent's RSS and open file descriptors (/proc), its outbox depth
 * and counters (/healthz). At the end: the RSS slope over the second half (MB a minute, a
 * least-squares fit), the file descriptors' range, the outbox's depth, every counter, and
 * whether every reading published was counted. With --json the last line is one JSON object.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { generate } from "mqtt-packet";
import { parseDuration } from "../rules/duration.js";
import { startMosquitto } from "../test/helpers/mosquitto.js";
import { brook, freePort } from "../test/helpers/process.js";
import { humanLog, numberArg } from "./bench-util.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const log = humanLog(args);
const durationArg = args.includes("--duration") ? args[args.indexOf("--duration") + 1] : "10m";
const durationMs = parseDuration(durationArg ?? "10m") ?? 600_000;
const rate = numberArg(args, "--rate", 2_000);
const SENSORS = 200;
const SAMPLE_MS = 5_000;

const RULES = [
  `rules:
  - { name: per-second, window: { type: tumbling, size: 1s }, aggregates: [count, mean, max] }
  - name: spikes
    window: { type: count, n: 60 }
    aggregates: []
    detectors: [{ type: zscore, threshold: 4, minSamples: 20 }]
`,
  `rules:
  - { name: per-second, window: { type: tumbling, size: 1s }, aggregates: [count, mean, max] }
  - { name: per-ten, window: { type: hopping, size: 10s, hop: 5s }, aggregates: [count, p95] }
`,
];

/** Whatever this run started is killed if it ends early (a failure), not left running. */
const started: { child: { kill(signal: NodeJS.Signals): boolean } }[] = [];
process.on("exit", () => {
  for (const p of started) p.child.kill("SIGKILL");
});

const dir = mkdtempSync(join(tmpdir(), "brook-soak-"));
mkdirSync(join(dir, "cloud-persistence"));
const cloud = await startMosquitto(dir, { persistenceDir: join(dir, "cloud-persistence") });
started.push({ child: { kill: (signal) => cloud.process.child.kill(signal) } });
const sink = brook([
  "cloud-sink",
  "--broker",
  cloud.url,
  "--db",
  join(dir, "cloud.db"),
  "--client-id",
  "soak-sink",
]);
started.push(sink);
await sink.waitForLine(/cloud sink ready/);
const port = await freePort();
const httpPort = await freePort();
writeFileSync(join(dir, "rules.yaml"), RULES[0] as string);
writeFileSync(
  join(dir, "config.yaml"),
  [
    "device: soak",
    `edge: { embedded: { port: ${port}, limits: { publishRate: 1000000 } } }`,
    "rules: rules.yaml",
    "dataDir: ./data",
    `uplink: { url: ${cloud.url} }`,
    "state: { checkpointInterval: 10s }",
    `http: { port: ${httpPort} }`,
    "",
  ].join("\n"),
);
const agent = brook(["agent", "--config", join(dir, "config.yaml")], {
  env: { ...process.env, BROOK_LOG_LEVEL: "info" },
});
started.push(agent);
await agent.waitForLine(/agent ready/, 30_000);
const pid = agent.child.pid as number;
const url = `mqtt://127.0.0.1:${port}`;
const pub = await mqtt.connectAsync(url, { clientId: "soak-sensors" });

let published = 0;
let seq = 0;
const publish = (n: number) => {
  for (let i = 0; i < n; i++, seq++) {
    pub.publish(`sensors/dev/s${seq % SENSORS}`, `{"ts":${Date.now()},"value":${(seq % 97) / 7}}`, {
      qos: 1,
    });
    published++;
  }
};

/** Hostile payloads, as an outside check sent them (issue 18). */
async function hostile(): Promise<void> {
  const c = await mqtt.connectAsync(url, { clientId: `hostile-${seq}`, reconnectPeriod: 0 });
  c.on("error", () => undefined);
  // Each acknowledged once taken: as dead letters.
  for (const [topic, payload] of [
    ["sensors/dev/x", "not json"],
    ["sensors/dev/x", `{"value": ${"[".repeat(10_000)}${"]".repeat(10_000)}}`],
    ["sensors/dev/x", '{"value": 1e308}'],
    ["sensors/only", '{"value": 1}'],
    ["sensors/a/b/c", '{"value": 1}'],
  ])
    await c.publishAsync(topic as string, payload as string, { qos: 1 });
  // A forged alert: refused, and the connection closed.
  c.publish("brook/soak/alert/spikes/x", '{"forged": true}', { qos: 1 });
  await new Promise((r) => setTimeout(r, 200));
  await c.endAsync(true).catch(() => undefined);
  // A 5 MB packet, refused at its header.
  const raw = connect(port, "127.0.0.1");
  raw.on("error", () => undefined);
  raw.write(
    generate({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clientId: `big-${seq}`,
      clean: true,
      keepalive: 60,
    }),
  );
  raw.write(
    generate({
      cmd: "publish",
      topic: "sensors/dev/big",
      payload: Buffer.alloc(5_000_000),
      qos: 0,
      retain: false,
      dup: false,
    }).subarray(0, 64),
  );
  setTimeout(() => raw.destroy(), 500);
}

interface Sample {
  t: number;
  rssMb: number;
  fds: number;
  outboxDepth: number;
  readings: number;
}
const samples: Sample[] = [];
const healthz = async () =>
  (await (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).json()) as {
    outboxDepth: number;
    counters: Record<string, unknown> & { readings: number };
  };
const rssMb = () =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
const fds = () => readdirSync(`/proc/${pid}/fd`).length;

const began = Date.now();
let nextSample = began;
let nextBurst = began + 20_000;
let nextHostile = began + 10_000;
let nextReload = began + 45_000;
let nextRestart = began + 60_000;
let reloads = 0;
let restarts = 0;
let bursts = 0;
while (Date.now() - began < durationMs) {
  publish(Math.round(rate / 20));
  const now = Date.now();
  if (now >= nextBurst) {
    publish(10_000);
    bursts++;
    nextBurst = now + 30_000;
  }
  if (now >= nextHostile) {
    await hostile();
    nextHostile = now + 30_000;
  }
  if (now >= nextReload) {
    reloads++;
    writeFileSync(join(dir, "rules.yaml"), RULES[reloads % 2] as string);
    nextReload = now + 90_000;
  }
  if (now >= nextRestart) {
    restarts++;
    await cloud.stop();
    await cloud.restart();
    nextRestart = now + 120_000;
  }
  if (now >= nextSample) {
    const h = await healthz();
    samples.push({
      t: (now - began) / 60_000,
      rssMb: rssMb(),
      fds: fds(),
      outboxDepth: h.outboxDepth,
      readings: h.counters.readings,
    });
    const s = samples.at(-1) as Sample;
    log(
      `[${Math.round((now - began) / 1000)}s] rss ${s.rssMb.toFixed(1)} MB, fds ${s.fds}, outbox ${s.outboxDepth}, readings ${s.readings}/${published}`,
    );
    nextSample = now + SAMPLE_MS;
  }
  await new Promise((r) => setTimeout(r, 50));
}
// Drain: every reading acknowledged, then counted.
await new Promise((r) => setTimeout(r, 3_000));
const end = await healthz();
await pub.endAsync();

/** Least-squares slope of y over x. */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}
const secondHalf = samples.slice(Math.floor(samples.length / 2));
const summary = {
  durationMin: durationMs / 60_000,
  rate,
  published,
  counted: end.counters.readings,
  everyReadingCounted: end.counters.readings === published,
  faults: {
    bursts,
    reloads,
    cloudRestarts: restarts,
    hostileRounds: Math.floor((durationMs - 10_000) / 30_000) + 1,
  },
  rssMb: {
    first: samples[0]?.rssMb,
    last: samples.at(-1)?.rssMb,
    max: Math.max(...samples.map((s) => s.rssMb)),
    slopeSecondHalfMbPerMin: slope(secondHalf.map((s) => [s.t, s.rssMb])),
  },
  fds: {
    min: Math.min(...samples.map((s) => s.fds)),
    max: Math.max(...samples.map((s) => s.fds)),
    last: samples.at(-1)?.fds,
  },
  outboxDepth: { max: Math.max(...samples.map((s) => s.outboxDepth)), last: end.outboxDepth },
  counters: end.counters,
};
log(
  `soak ${summary.durationMin} min at ${rate}/s: ${published} published, ${summary.counted} counted; RSS ${summary.rssMb.first?.toFixed(1)} → ${summary.rssMb.last?.toFixed(1)} MB (max ${summary.rssMb.max.toFixed(1)}, second half ${summary.rssMb.slopeSecondHalfMbPerMin.toFixed(2)} MB/min); fds ${summary.fds.min}–${summary.fds.max}; outbox max ${summary.outboxDepth.max}, last ${summary.outboxDepth.last}`,
);
await agent.stop();
await sink.stop();
await cloud.stop();
if (json) console.log(JSON.stringify(summary));
