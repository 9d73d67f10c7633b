/**
 * `npm run bench:e2e [-- --json] [-- --quick] [-- --qos 0,1] [-- --sensors 1000,10000]
 * [-- --systems brook,brook-mosquitto,aedes,mosquitto] [-- --rates 10000,20000] [-- --step 5s]`:
 * the whole path, multi-process, against what users would pick instead, in one run.
 * - brook: `brook agent` (the single binary if built, else the checkout's bundle) with its
 *   embedded broker, a 1-s tumbling count/mean and a 60-reading z-score, its uplink to a
 *   cloud mosquitto, `brook cloud-sink` storing there; readings counted by summing the
 *   windows' counts the sink stored (never the agent's counters);
 * - brook-mosquitto: the same agent reading an external mosquitto;
 * - aedes, mosquitto: pass-through ceilings, publisher → broker → one subscriber (in this
 *   process), the messages counted as they arrive;
 * - node-red: a Node-RED flow doing the same job (mqtt in → per-topic 60-reading mean and
 *   3σ → mqtt out) on a mosquitto, installed on first use into a cache directory.
 * Each system climbs the rates (`brook sim` publishers, one per 40,000 msgs/s); a rate is
 * sustained when every message published is counted at the far end within the drain time
 * (1 s and a fifth of the step after the publishers end; for brook 4 s more, as its windows
 * close 2 s after a sensor's last reading and then travel the uplink) and the publishers
 * achieved 95 % of it. A rate missed with everything counted is the load generator's limit
 * at QoS 0 unless the publishers waited, 5 % of the step or more, for the system to read
 * what they sent (their sockets full): then the system's. Reported per system: the highest sustained rate,
 * the CPU µs a message of its processes (for brook: the agent's, and the edge broker's
 * beside it), RSS at the end and peak; `--one-core` pins each system to one core. Then,
 * where the system sustained 20,000/s, one more step at that rate with the latency probe
 * (scripts/binary/latency-probe.mjs, a process of its own) publishing spikes beside the
 * fleet: p50/p99 from a spike's publish to what the system makes of it (Brook's alert on
 * the edge broker, the broker's delivery of the spike, Node-RED's flagged result). The
 * machine (cores, model, load, the CPU time stolen by the hypervisor) is recorded.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, homedir, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { type FleetReport, PER_PUBLISHER, publishFleet } from "../agent/bench/run.js";
import { ACHIEVED_SHARE, publisherLimited } from "../agent/bench/steps.js";
import { startMosquitto } from "../test/helpers/mosquitto.js";
import { freePort, type Running, start } from "../test/helpers/process.js";
import { cpuSeconds, humanLog, memoryMb } from "./bench-util.js";
import { checkoutCommand } from "./bundle.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const quick = args.includes("--quick");
const log = humanLog(args);
const list = (name: string, fallback: string) =>
  (args.includes(name) ? (args[args.indexOf(name) + 1] ?? fallback) : fallback).split(",");
const qosList = list("--qos", "0,1").map((q) => Number(q) as 0 | 1);
const sensorsList = list("--sensors", quick ? "1000" : "100,10000,100000").map(Number);
const systems = list("--systems", "brook,brook-mosquitto,aedes,mosquitto,node-red");
const rates = list(
  "--rates",
  quick ? "20000,40000" : "5000,10000,20000,40000,60000,80000,100000",
).map(Number);
const stepMs = args.includes("--step")
  ? Number(/^(\d+)s$/.exec(args[args.indexOf("--step") + 1] ?? "")?.[1] ?? 5) * 1000
  : quick
    ? 3_000
    : 5_000;
const root = fileURLToPath(new URL("..", import.meta.url));
/**
 * `--one-core`: each system's processes pinned to core 0 (`taskset`), the publishers to
 * core 1: the nearest stand-in for a Pi here, and the load generator off the system's core.
 */
const oneCore = args.includes("--one-core");
const pin = (pid: number) =>
  oneCore && execFileSync("taskset", ["-a", "-p", "-c", "0", String(pid)], { stdio: "ignore" });

/** How to run brook: the single binary if built, else the checkout's bundle on this Node. */
async function brookCommand(): Promise<[string, string[]]> {
  const binary = join(root, "dist", `brook-linux-${process.arch}`);
  return existsSync(binary) ? [binary, []] : checkoutCommand();
}

interface System {
  ingest: string;
  /** processes whose CPU and memory are the system's; the first is the one reported alone */
  pids: number[];
  /** messages counted at the far end under `prefix` */
  count(prefix: string): number;
  /** how long after the publishers end everything must have arrived, beyond the step's fifth */
  drainMs: number;
  stop(): Promise<void>;
}

/** A system process's CPU seconds so far, RSS and peak (MB). */
function proc(pid: number) {
  return { cpuS: cpuSeconds(pid), ...memoryMb(pid) };
}

/**
 * Stops a process; one that has not stopped within the helper's wait (Node-RED under a
 * backlog can take longer) is killed, so one slow exit does not end the benchmark.
 */
function stopOrKill(p: Running): Promise<unknown> {
  return p.stop().catch(async () => {
    p.child.kill("SIGKILL");
    await p.exited(5_000).catch(() => undefined);
  });
}

function run(command: [string, string[]], argv: string[]): Running {
  return start(command[0], [...command[1], ...argv]);
}

const RULES = `rules:
  - name: per-second
    window: { type: tumbling, size: 1s }
    aggregates: [count, mean]
    idleTimeout: 2s
  - name: spikes
    window: { type: count, n: 60 }
    aggregates: []
    detectors: [{ type: zscore }]
`;

async function startBrook(
  brook: [string, string[]],
  dir: string,
  edgeMode: "embedded" | "mosquitto",
): Promise<System> {
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    return await brookParts(brook, dir, edgeMode, stops, stopAll);
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function brookParts(
  brook: [string, string[]],
  dir: string,
  edgeMode: "embedded" | "mosquitto",
  stops: (() => Promise<unknown>)[],
  stopAll: () => Promise<void>,
): Promise<System> {
  const cloud = await startMosquitto(dir);
  stops.push(() => stopOrKill(cloud.process));
  const db = join(dir, "cloud.db");
  const sink = run(brook, ["cloud-sink", "--broker", cloud.url, "--db", db]);
  stops.push(() => stopOrKill(sink));
  await sink.waitForLine(/cloud sink ready/, 20_000);
  let edgeLine: string;
  let ingest: string;
  let edgePid: number[] = [];
  if (edgeMode === "mosquitto") {
    const edge = await startMosquitto(dir);
    stops.push(() => stopOrKill(edge.process));
    edgeLine = `edge: { url: ${edge.url} }`;
    ingest = edge.url;
    edgePid = [edge.process.child.pid as number];
  } else {
    const port = await freePort();
    edgeLine = `edge: { embedded: { host: 127.0.0.1, port: ${port}, limits: { publishRate: 10000000 } } }`;
    ingest = `mqtt://127.0.0.1:${port}`;
  }
  writeFileSync(join(dir, "rules.yaml"), RULES);
  writeFileSync(
    join(dir, "config.yaml"),
    [
      "device: bench",
      edgeLine,
      "rules: rules.yaml",
      "dataDir: ./agent-data",
      `uplink: { url: ${cloud.url} }`,
      // The default: the HTTP endpoint and its live view on (a free port).
      "http: { host: 127.0.0.1, port: 0 }",
      "",
    ].join("\n"),
  );
  const agent = start(brook[0], [...brook[1], "agent", "-c", join(dir, "config.yaml")], {
    cwd: dir,
  });
  stops.push(() => stopOrKill(agent));
  await agent.waitForLine(/agent ready/, 30_000);
  const reader = () => new Database(db, { readonly: true, fileMustExist: true });
  return {
    ingest,
    drainMs: 5_000,
    pids: [agent.child.pid as number, ...edgePid],
    count(prefix) {
      if (!existsSync(db)) return 0;
      const d = reader();
      try {
        const row = d
          .prepare(
            "SELECT COALESCE(SUM(json_extract(body, '$.aggregates.count')), 0) AS n FROM results WHERE rule = 'per-second' AND key LIKE ?",
          )
          .get(`${prefix}-%`) as { n: number };
        return row.n;
      } finally {
        d.close();
      }
    },
    stop: stopAll,
  };
}

async function startPassThrough(kind: "aedes" | "mosquitto", dir: string, qos: 0 | 1) {
  let url: string;
  let pid: number;
  let stop: () => Promise<unknown>;
  if (kind === "mosquitto") {
    const broker = await startMosquitto(dir);
    url = broker.url;
    pid = broker.process.child.pid as number;
    stop = () => stopOrKill(broker.process);
  } else {
    const broker = start(process.execPath, [join(root, "scripts/binary/aedes-broker.mjs")]);
    const line = await broker.waitForLine(/^ready \d+/, 10_000);
    url = `mqtt://127.0.0.1:${line.split(" ")[1]}`;
    pid = broker.child.pid as number;
    stop = () => stopOrKill(broker);
  }
  const counter = await countAt(url, "sensors/", qos).catch(async (err) => {
    await stop();
    throw err;
  });
  return {
    ingest: url,
    drainMs: 1_000,
    pids: [pid],
    count: counter.count,
    stop: async () => {
      await counter.stop();
      await stop();
    },
  } satisfies System;
}

/** A subscriber counting the messages under `under` by their step prefix (`q0s1-…`). */
async function countAt(url: string, under: string, qos: 0 | 1) {
  const counts = new Map<string, number>();
  const counter = await mqtt.connectAsync(url, {
    clientId: `bench-e2e-counter-${Date.now()}`,
    reconnectPeriod: 0,
  });
  counter.on("error", (err) => process.stderr.write(`bench:e2e: counter: ${err.message}\n`));
  counter.on("message", (topic) => {
    const prefix = topic.slice(under.length, topic.indexOf("-", under.length));
    counts.set(prefix, (counts.get(prefix) ?? 0) + 1);
  });
  await counter.subscribeAsync(`${under}#`, { qos });
  return {
    count: (prefix: string) => counts.get(prefix) ?? 0,
    stop: () => counter.endAsync(true),
  };
}

const NODE_RED = "4.1.8";
/** Node-RED, installed on first use into a cache directory (never a project dependency). */
function nodeRed(): string {
  const cache = join(
    process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"),
    "brook",
    `bench-e2e-node-red-${NODE_RED}`,
  );
  const red = join(cache, "node_modules", "node-red", "red.js");
  if (existsSync(red)) return red;
  log(`installing node-red@${NODE_RED} into ${cache} (once)`);
  mkdirSync(cache, { recursive: true });
  execFileSync(
    "npm",
    ["install", "--prefix", cache, "--no-audit", "--no-fund", "--omit=dev", `node-red@${NODE_RED}`],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  if (!existsSync(red)) throw new Error(`npm installed no ${red}`);
  return red;
}

/**
 * The same job as a Node-RED flow: mqtt in (sensors/#) → a function keeping each topic's
 * last 60 readings (mean, standard deviation, a 3σ flag) → mqtt out (results/<topic>), on
 * a mosquitto as its broker. Counted as its results arrive.
 */
const ZSCORE_FN = `const s = context.get(msg.topic) || { v: [] };
const x = Number(msg.payload && msg.payload.value);
const n = s.v.length;
let mean = 0, sd = 0;
if (n > 0) { mean = s.v.reduce((a, b) => a + b, 0) / n; sd = Math.sqrt(s.v.reduce((a, b) => a + (b - mean) * (b - mean), 0) / n); }
const anomaly = n >= 10 && sd > 0 && Math.abs(x - mean) > 3 * sd;
s.v.push(x); if (s.v.length > 60) s.v.shift();
context.set(msg.topic, s);
return { topic: "results/" + msg.topic, payload: { ts: msg.payload.ts, value: x, mean, sd, anomaly } };`;

async function startNodeRed(dir: string, qos: 0 | 1): Promise<System> {
  const red = nodeRed();
  const broker = await startMosquitto(dir);
  const port = await freePort();
  const userDir = join(dir, "node-red");
  mkdirSync(userDir);
  const brokerNode = {
    id: "b1",
    type: "mqtt-broker",
    broker: "127.0.0.1",
    port: String(broker.port),
    clientid: "bench-node-red",
    autoConnect: true,
    usetls: false,
    protocolVersion: "4",
    keepalive: "60",
    cleansession: true,
  };
  const flows = [
    { id: "t1", type: "tab", label: "bench" },
    brokerNode,
    {
      id: "in",
      type: "mqtt in",
      z: "t1",
      topic: "sensors/#",
      qos: String(qos),
      datatype: "json",
      broker: "b1",
      inputs: 0,
      wires: [["fn"]],
    },
    { id: "fn", type: "function", z: "t1", func: ZSCORE_FN, outputs: 1, wires: [["out"]] },
    {
      id: "out",
      type: "mqtt out",
      z: "t1",
      topic: "",
      qos: String(qos),
      retain: "false",
      broker: "b1",
      wires: [],
    },
  ];
  writeFileSync(join(userDir, "flows.json"), JSON.stringify(flows));
  writeFileSync(
    join(userDir, "settings.js"),
    `module.exports = { uiHost: "127.0.0.1", uiPort: ${port}, flowFile: "flows.json", logging: { console: { level: "info" } } };\n`,
  );
  const node = start(process.execPath, [
    red,
    "--userDir",
    userDir,
    "--settings",
    join(userDir, "settings.js"),
  ]);
  try {
    await node.waitForLine(/Connected to broker/, 60_000);
  } catch (err) {
    await stopOrKill(node);
    await stopOrKill(broker.process);
    throw err;
  }
  const counter = await countAt(broker.url, "results/sensors/", qos).catch(async (err) => {
    await stopOrKill(node);
    await stopOrKill(broker.process);
    throw err;
  });
  return {
    ingest: broker.url,
    drainMs: 1_000,
    pids: [node.child.pid as number, broker.process.child.pid as number],
    count: counter.count,
    stop: async () => {
      await counter.stop();
      await stopOrKill(node);
      await stopOrKill(broker.process);
    },
  };
}

interface Step {
  rate: number;
  sent: number;
  achieved: number;
  counted: number;
  cpuUsPerMessage: number;
  edgeCpuUsPerMessage?: number;
  rssMb: number;
  sustained: boolean;
  /** the longest a publisher waited for the system to read its messages (or, at QoS 1, acknowledge them), s */
  brokerWaitSeconds: number;
  /**
   * what fell short: at QoS 0 a rate under 95 % with everything counted is the publishers'
   * unless they waited for the system to read (BROKER_WAIT_SHARE of the step): its input backed up
   */
  limit?: "publishers" | "system";
}

/** One step of the fleet at `rate` (a publisher per PER_PUBLISHER/s), on topics under `sensors/<prefix>-`. */
function publishStep(
  brook: [string, string[]],
  url: string,
  rate: number,
  sensors: number,
  qos: 0 | 1,
  prefix: string,
): Promise<FleetReport[]> {
  const publishers = Math.ceil(rate / PER_PUBLISHER);
  return Promise.all(
    Array.from({ length: publishers }, (_, p) =>
      publishFleet({
        url,
        publisher: p,
        sensors: Math.max(1, Math.round(sensors / publishers)),
        rate: rate / publishers,
        stepMs,
        qos,
        topic: `sensors/${prefix}-p${p}-{device}/{sensor}`,
        brook,
      }),
    ),
  );
}

/** The rate at which reading → output latency is measured. */
const LATENCY_RATE = 20_000;

interface Latency {
  spikes: number;
  seen: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/**
 * One step of the fleet at LATENCY_RATE with the latency probe beside it, publishing
 * spikes on its own sensors and timing what comes out (`mode`: see latency-probe.mjs).
 */
async function latencyUnderLoad(
  brook: [string, string[]],
  system: System,
  qos: 0 | 1,
  sensors: number,
  tag: string,
  mode: "alert" | "message" | "node-red",
): Promise<Latency> {
  const probe = start(process.execPath, [
    join(root, "scripts/binary/latency-probe.mjs"),
    system.ingest,
    String(qos),
    mode,
    String(stepMs / 1000),
  ]);
  try {
    await publishStep(brook, system.ingest, LATENCY_RATE, sensors, qos, `${tag}lat`);
    return JSON.parse(await probe.waitForLine(/^\{/, 30_000)) as Latency;
  } finally {
    await stopOrKill(probe);
  }
}

/** CPU time the hypervisor took from this machine's CPUs (`steal`, /proc/stat), and the total. */
function stealTicks(): { steal: number; total: number } {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/).slice(1);
  const ticks = (cpu ?? []).map(Number);
  return { steal: ticks[7] ?? 0, total: ticks.reduce((a, b) => a + b, 0) };
}

async function climb(
  brook: [string, string[]],
  system: System,
  qos: 0 | 1,
  sensors: number,
  tag: string,
): Promise<Step[]> {
  const steps: Step[] = [];
  for (const [i, rate] of rates.entries()) {
    const prefix = `${tag}s${i}`;
    const before = system.pids.map(proc);
    const reports = await publishStep(brook, system.ingest, rate, sensors, qos, prefix);
    const sent = reports.reduce((n, r) => n + r.sent, 0);
    const seconds = Math.max(...reports.map((r) => r.seconds));
    const brokerWaitSeconds = Math.max(...reports.map((r) => r.brokerWaitSeconds));
    // CPU over the publishing and half a second after it: the windows' closing later (2 s
    // idle) is a few results a key, and waiting for it would count the idle agent too.
    await new Promise((r) => setTimeout(r, 500));
    const after = system.pids.map(proc);
    // A system that keeps up has passed everything on shortly after the publishers end; one
    // that buffered a backlog has not (for brook: windows close 2 s after a key's last
    // reading, idleTimeout, on the agent's 1-s tick, then travel the uplink).
    const deadline = Date.now() + system.drainMs + stepMs / 5;
    while (system.count(prefix) < sent && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const counted = system.count(prefix);
    const cpu = after.map((a, k) => (a.cpuS - (before[k]?.cpuS ?? 0)) * 1e6);
    const step: Step = {
      rate,
      sent,
      achieved: Math.round(sent / seconds),
      counted,
      cpuUsPerMessage: Math.round(((cpu[0] ?? 0) / Math.max(1, counted)) * 10) / 10,
      ...(cpu.length > 1
        ? { edgeCpuUsPerMessage: Math.round(((cpu[1] ?? 0) / Math.max(1, counted)) * 10) / 10 }
        : {}),
      rssMb: Math.round(after.reduce((n, a) => n + a.rss, 0)),
      sustained: counted === sent && sent / seconds >= ACHIEVED_SHARE * rate,
      brokerWaitSeconds: Math.round(brokerWaitSeconds * 100) / 100,
    };
    if (!step.sustained)
      step.limit =
        counted === sent && qos === 0 && publisherLimited(brokerWaitSeconds, seconds)
          ? "publishers"
          : "system";
    steps.push(step);
    log(
      `  ${String(rate).padStart(6)}/s: achieved ${step.achieved}/s, counted ${counted} of ${sent}, CPU ${step.cpuUsPerMessage} µs a message${step.edgeCpuUsPerMessage === undefined ? "" : ` (+ edge broker ${step.edgeCpuUsPerMessage})`}, RSS ${step.rssMb} MB${step.sustained ? "" : ` — not sustained (${step.limit === "publishers" ? "the publishers fell short: the load generator's limit" : qos === 0 && step.brokerWaitSeconds > 0 ? `the system fell behind: the publishers waited ${step.brokerWaitSeconds} s for it to take their messages` : "the system fell behind"})`}`,
    );
    if (!step.sustained) break;
  }
  return steps;
}

const command = await brookCommand();
/** Publishers: brook sim, on core 1 with --one-core. */
const publisherCommand: [string, string[]] = oneCore
  ? ["taskset", ["-c", "1", command[0], ...command[1]]]
  : command;
const base = mkdtempSync(join(tmpdir(), "brook-bench-e2e-"));
const stealBefore = stealTicks();
const results: Record<string, unknown>[] = [];
try {
  for (const sensors of sensorsList)
    for (const qos of qosList)
      for (const name of systems) {
        const dir = join(base, `${name}-${qos}-${sensors}`);
        mkdirSync(dir);
        log(`${name}, QoS ${qos}, ${sensors} sensors:`);
        let system: System | undefined;
        try {
          system =
            name === "brook" || name === "brook-mosquitto"
              ? await startBrook(command, dir, name === "brook" ? "embedded" : "mosquitto")
              : name === "node-red"
                ? await startNodeRed(dir, qos)
                : await startPassThrough(name as "aedes" | "mosquitto", dir, qos);
          for (const pid of system.pids) pin(pid);
          const steps = await climb(publisherCommand, system, qos, sensors, `q${qos}`);
          const best = steps.filter((s) => s.sustained).at(-1);
          const latency = steps.some((s) => s.sustained && s.rate >= LATENCY_RATE)
            ? await latencyUnderLoad(
                publisherCommand,
                system,
                qos,
                sensors,
                `q${qos}`,
                name.startsWith("brook") ? "alert" : name === "node-red" ? "node-red" : "message",
              )
            : null;
          log(
            latency === null
              ? `  latency: not measured (${LATENCY_RATE}/s was not sustained)`
              : `  latency at ${LATENCY_RATE}/s: ${latency.seen} of ${latency.spikes} spikes came out, p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms`,
          );
          const peak = Math.round(system.pids.map(proc).reduce((n, p) => n + p.peak, 0));
          results.push({
            system: name,
            qos,
            sensors,
            sustainedPerSec: best?.achieved ?? 0,
            cpuUsPerReading: best?.cpuUsPerMessage ?? null,
            rssMb: best?.rssMb ?? null,
            peakRssMb: peak,
            limit: steps.every((s) => s.sustained)
              ? "every rate tried was sustained"
              : steps.at(-1)?.limit,
            latencyAt20k: latency,
            steps,
          });
        } catch (err) {
          // One system failing (a broker that would not start) is reported, not the end.
          const error = (err as Error).message.split("\n")[0];
          process.stderr.write(`bench:e2e: ${name}, QoS ${qos}, ${sensors} sensors: ${error}\n`);
          results.push({ system: name, qos, sensors, error });
        } finally {
          await system?.stop().catch((err: Error) => {
            process.stderr.write(`bench:e2e: ${name}: stopping: ${err.message.split("\n")[0]}\n`);
          });
        }
      }
} finally {
  rmSync(base, { recursive: true, force: true });
}

/** Same-run ratios, per QoS and sensor count: Brook (embedded) against aedes's pass-through. */
const ratios = results
  .filter((r) => r.system === "brook")
  .map((r) => {
    const aedes = results.find(
      (a) => a.system === "aedes" && a.qos === r.qos && a.sensors === r.sensors,
    );
    const nodeRed = results.find(
      (a) => a.system === "node-red" && a.qos === r.qos && a.sensors === r.sensors,
    );
    const ratio = (x: unknown, y: unknown) =>
      typeof x === "number" && typeof y === "number" && y > 0
        ? Math.round((x / y) * 100) / 100
        : null;
    return {
      qos: r.qos,
      sensors: r.sensors,
      sustainedVsAedes: ratio(r.sustainedPerSec, aedes?.sustainedPerSec),
      cpuVsAedes: ratio(r.cpuUsPerReading, aedes?.cpuUsPerReading),
      sustainedVsNodeRed: ratio(r.sustainedPerSec, nodeRed?.sustainedPerSec),
      peakRssVsNodeRed: ratio(r.peakRssMb, nodeRed?.peakRssMb),
    };
  });
const stealAfter = stealTicks();
const machine = {
  cores: cpus().length,
  model: cpus()[0]?.model ?? "unknown",
  loadavg: loadavg(),
  stealPercent:
    Math.round(
      ((stealAfter.steal - stealBefore.steal) / Math.max(1, stealAfter.total - stealBefore.total)) *
        1000,
    ) / 10,
};
log(
  `machine: ${machine.cores} cores, ${machine.model}, load ${machine.loadavg.map((l) => l.toFixed(2)).join(" ")}, ${machine.stealPercent} % stolen; the publishers ran on it too`,
);
for (const r of ratios)
  log(
    `QoS ${r.qos}, ${r.sensors} sensors: Brook sustained ${r.sustainedVsAedes}× aedes's pass-through, at ${r.cpuVsAedes}× its CPU a message`,
  );
log(
  `brook: ${command.flat().join(" ")} (the single binary when built: rebuild it after changing the code)`,
);
if (json)
  console.log(
    JSON.stringify({
      machine,
      brook: command.flat().join(" "),
      oneCore,
      stepMs,
      systems: results,
      ratios,
    }),
  );
