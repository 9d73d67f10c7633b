/**
 * `brook bench`: what this device sustains with these rules. The agent runs in this
 * process, on loopback ports with its embedded broker and a scratch data directory;
 * `brook sim` processes publish a simulated fleet at rising rates, one step each. After
 * each step the agent gets a drain time to take what was published; the step is judged
 * (./steps.ts) and the climb stops at the first step not sustained. The agent's CPU is this
 * process's (the publishers are other processes), its RSS this process's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import sea from "node:sea";
import { parseConfig, type ResolvedConfig } from "../config/load.js";
import { BrookError } from "../errors.js";
import { Agent } from "../runtime/agent.js";
import { createLogger } from "../runtime/log.js";
import { type BenchSummary, result, type StepResult, stepLine, summarize } from "./steps.js";

export interface BenchOptions {
  /** the user's config: its rules, reading log and state settings are used */
  config?: ResolvedConfig;
  /** a rules file (else the config's, else the default rule plus a z-score rule) */
  rulesFile?: string;
  dataDir: string;
  sensors: number;
  rates: number[];
  stepMs: number;
  qos: 0 | 1;
  format?: string;
  topic?: string;
  expect?: number;
  print: (line: string) => void;
}

export interface BenchReport extends BenchSummary {
  steps: StepResult[];
  alertLatencyP99Ms: number | null;
  alerts: number;
  sensors: number;
  qos: 0 | 1;
  machine: { cores: number; model: string; loadavg: number[] };
}

/** The default rules: the default rule (1-min tumbling) and a 60-reading z-score. */
export const BENCH_RULES = `rules:
  - { name: default, window: { type: tumbling } }
  - name: spikes
    window: { type: count, n: 60 }
    aggregates: []
    detectors: [{ type: zscore }]
`;

const KINDS = ["temperature", "humidity", "pressure", "vibration"];
/** Readings/s one publisher process is asked for at most (one mqtt.js client tops out near 65k). */
export const PER_PUBLISHER = 40_000;

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { print } = options;
  let rulesFile = options.rulesFile ?? options.config?.rulesFile;
  if (rulesFile === undefined) {
    rulesFile = join(options.dataDir, "bench-rules.yaml");
    writeFileSync(rulesFile, BENCH_RULES);
  }
  const log = options.config?.readingLog;
  const config = parseConfig(
    join(options.dataDir, "bench-config.yaml"),
    [
      "device: bench",
      // Loopback only; a fleet of one client per publisher needs no per-client rate limit.
      "edge: { embedded: { host: 127.0.0.1, port: 0, limits: { publishRate: 10000000 } } }",
      `dataDir: ${JSON.stringify(join(options.dataDir, "data"))}`,
      "http: { enabled: false }",
      `state: { maxBytes: ${options.config?.state.maxBytes ?? "64MiB"} }`,
      // The agent's own defaults (the reading log on) unless the user's config says otherwise.
      options.config === undefined
        ? ""
        : log === undefined
          ? "readingLog: { enabled: false }"
          : `readingLog: { maxBytes: ${log.maxBytes}, synchronous: ${log.sync ? "FULL" : "NORMAL"} }`,
      `rules: ${JSON.stringify(rulesFile)}`,
      "",
    ].join("\n"),
  );
  const agent = await Agent.start(config, {
    logger: createLogger(process.env.BROOK_LOG_LEVEL ?? "error"),
    watchRules: false,
  });
  const steps: StepResult[] = [];
  try {
    for (const [i, rate] of options.rates.entries()) {
      print(
        `[step ${i + 1}/${options.rates.length}] ${rate.toLocaleString("en-US")} readings/s over ${options.sensors.toLocaleString("en-US")} sensors for ${options.stepMs / 1000} s …`,
      );
      const step = await runStep(agent, options, rate);
      steps.push(step);
      print(`  ${stepLine(step)}`);
      if (i === 0 && step.sent > 0 && step.taken === 0 && step.refused === 0)
        throw new BrookError(
          "BROOK_ERR_USAGE",
          `bench: none of the ${step.sent} readings published on ${topicOf(options, 0)} reached a rule: give --topic and --format that match the rules' sources`,
        );
      if (step.verdict !== "sustained") break;
    }
  } finally {
    await agent.stop(5_000);
  }
  const summary = summarize(steps, options.expect);
  const alerts = agent.status().engine.alerts;
  return {
    ...summary,
    steps,
    alertLatencyP99Ms: await p99Ms(agent),
    alerts,
    sensors: options.sensors,
    qos: options.qos,
    machine: {
      cores: cpus().length,
      model: cpus()[0]?.model ?? "unknown",
      loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    },
  };
}

const topicOf = (options: BenchOptions, publisher: number) =>
  options.topic ?? `sensors/p${publisher}-{device}/{sensor}`;

async function runStep(agent: Agent, options: BenchOptions, rate: number): Promise<StepResult> {
  const fleet = Math.ceil(rate / PER_PUBLISHER);
  const before = agent.status();
  const taken0 = before.counters.readings;
  const refused0 = refusedOf(agent);
  const outbox0 = before.outboxDepth;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  resetPeak();
  // One publisher failing ends the others: none is left behind.
  const reports = await Promise.all(
    Array.from({ length: fleet }, (_, p) =>
      publishFleet({
        url: agent.edgeUrl,
        publisher: p,
        sensors: Math.max(1, Math.round(options.sensors / fleet)),
        rate: rate / fleet,
        stepMs: options.stepMs,
        qos: options.qos,
        topic: topicOf(options, p),
        format: options.format,
      }),
    ),
  ).catch((err) => {
    killPublishers();
    throw err;
  });
  const sent = reports.reduce((n, r) => n + r.sent, 0);
  const seconds = Math.max(...reports.map((r) => r.seconds));
  const brokerWaitSeconds = Math.max(...reports.map((r) => r.brokerWaitSeconds));
  // QoS 0 readings still in the broker's and the agent's hands: a drain time to take them.
  const drainUntil = performance.now() + 2_000 + options.stepMs / 5;
  while (agent.status().counters.readings - taken0 < sent && performance.now() < drainUntil)
    await new Promise((r) => setTimeout(r, 20));
  const cpu = process.cpuUsage(cpu0);
  const after = agent.status();
  const elapsed = (performance.now() - t0) / 1000;
  const memory = peakAndRss();
  return result(
    {
      target: rate,
      sent,
      achieved: sent / seconds,
      taken: after.counters.readings - taken0,
      refused: refusedOf(agent) - refused0,
      cpuUs: cpu.user + cpu.system,
      rssMb: memory.rss,
      peakRssMb: memory.peak,
      outboxPerSec: Math.max(0, after.outboxDepth - outbox0) / elapsed,
      seconds,
      brokerWaitSeconds,
    },
    options.qos,
  );
}

function refusedOf(agent: Agent): number {
  const { counters: c, engine } = agent.status();
  return (
    Object.values(c.deadLetters).reduce((a, b) => a + b, 0) +
    c.processingErrors +
    engine.late +
    engine.evictedKeys
  );
}

/** `brook sim` as this program runs it: the binary itself, or Node with this script. */
function self(): [string, string[]] {
  return sea.isSea()
    ? [process.execPath, []]
    : [process.execPath, [...process.execArgv, process.argv[1] as string]];
}

/** What one fleet publisher is asked: its share of sensors and rate, for `stepMs`. */
export interface FleetShare {
  /** the broker */
  url: string;
  /** this publisher's number (its client id, seed and default topic prefix) */
  publisher: number;
  sensors: number;
  rate: number;
  stepMs: number;
  qos: 0 | 1;
  topic: string;
  format?: string;
  /** how to run `brook sim`: the command and the arguments before "sim" */
  brook?: [string, string[]];
}

/** The fleet's publisher processes running now. */
const publishers = new Set<ChildProcess>();

/** Ends every publisher still running (a step that failed, a stop asked for). */
export function killPublishers(): void {
  for (const child of publishers) child.kill("SIGKILL");
  publishers.clear();
}

/** What one publisher reports: messages sent, over how long, and how long it waited for the broker. */
export interface FleetReport {
  sent: number;
  seconds: number;
  /** seconds its sending waited for the broker to read (socket full) or acknowledge; 0 if not reported */
  brokerWaitSeconds: number;
}

/** One publisher (a `brook sim` process): its own devices, at its rate, event time with the clock. */
export function publishFleet(share: FleetShare): Promise<FleetReport> {
  const devices = Math.max(1, Math.ceil(share.sensors / KINDS.length));
  const kinds = KINDS.slice(0, Math.min(KINDS.length, share.sensors));
  const perSensor = devices * kinds.length;
  // Event time advances with the wall clock: each sensor reads every perSensor/rate seconds.
  const intervalMs = Math.max(1, Math.round((1000 * perSensor) / share.rate));
  const [command, base] = share.brook ?? self();
  const args = [
    ...base,
    "sim",
    "--broker",
    share.url,
    "--client-id",
    `brook-bench-${share.publisher}`,
    "--devices",
    String(devices),
    "--sensors",
    kinds.join(","),
    "--interval",
    `${intervalMs}ms`,
    "--start",
    new Date().toISOString(),
    "--duration",
    `${Math.ceil(share.stepMs / intervalMs) * intervalMs}ms`,
    "--rate",
    String(Math.round(share.rate)),
    "--qos",
    String(share.qos),
    "--seed",
    String(share.publisher + 1),
    "--topic",
    share.topic,
    ...(share.format === undefined ? [] : ["--format", share.format]),
    "--json",
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    publishers.add(child);
    // A publisher that has not finished long after its step (a broker gone away) is ended.
    const timer = setTimeout(() => child.kill("SIGKILL"), 2 * share.stepMs + 30_000);
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      publishers.delete(child);
      const last = out.trim().split("\n").at(-1) ?? "";
      try {
        if (code !== 0) throw new Error(`exited ${code}`);
        const report = JSON.parse(last) as FleetReport;
        resolve({
          sent: report.sent,
          seconds: report.seconds,
          // A `brook sim` from before it reported the wait (an older binary): none known.
          brokerWaitSeconds: report.brokerWaitSeconds ?? 0,
        });
      } catch (err) {
        reject(
          new Error(`bench: the fleet's publisher failed (${(err as Error).message}):\n${out}`),
        );
      }
    });
  });
}

/** The p99 of the alert latency histogram, as its bucket's upper bound; null without alerts. */
async function p99Ms(agent: Agent): Promise<number | null> {
  const { values } = await agent.alertLatency.get();
  const buckets = values.filter((v) => v.metricName === "brook_alert_latency_seconds_bucket");
  const total = buckets.find((b) => b.labels.le === "+Inf")?.value ?? 0;
  if (total === 0) return null;
  const at = buckets.find((b) => b.value >= 0.99 * total);
  return at === undefined || at.labels.le === "+Inf" ? null : Number(at.labels.le) * 1000;
}

function peakAndRss(): { rss: number; peak: number } {
  let status = "";
  try {
    status = readFileSync("/proc/self/status", "utf8");
  } catch {
    // not Linux: RSS from Node, no peak
  }
  const kb = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb("VmRSS") || process.memoryUsage().rss / 1048576, peak: kb("VmHWM") };
}

/** Peak RSS counted from now (Linux; elsewhere the peak is the process's). */
function resetPeak(): void {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
  } catch {
    // not Linux, or not allowed: the peak is since start
  }
}
