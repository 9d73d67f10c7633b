/**
 * `npm run bench:latency [-- --json] [-- --runs N] [-- --seconds S] [-- --rate R]`: detection
 * latency. A real `brook agent` process (embedded broker) runs an ewma rule whose alerts are
 * published on the local broker; this process publishes R readings/s (default 20,000) over
 * 1,000 sensors, one in every 100 a spike, and subscribes to the alerts. Inside the agent,
 * latency is from the broker handing the reading to the agent to the broker completing the
 * alert's publish, written to its subscribers (the agent's brook_alert_latency_seconds
 * histogram, read from /metrics after each run); end to end, from
 * the spike's publish to its alert's arrival, which also holds both broker hops. Baseline, in the same run: each spike is
 * also published on an echo topic this process subscribes to, so the plain broker round
 * trip at the same moment is measured beside it; and a process that does nothing but run a
 * 1 ms timer records how late it fires: the machine's own scheduling noise, which no code of
 * ours causes. Also the agent process's CPU time per run (from /proc). Medians of N runs
 * (default 3) of S seconds (default 10). With --json the last line is one JSON object.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { brook, freePort, start } from "../test/helpers/process.js";
import { cpuSeconds, histogram, humanLog, median, numberArg, quantile } from "./bench-util.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const runs = numberArg(args, "--runs", 3);
const seconds = numberArg(args, "--seconds", 10);
const rate = numberArg(args, "--rate", 20_000);
const SENSORS = 1_000;
const SPIKE_EVERY = 100;
const TICK_MS = 5;
const log = humanLog(args);

const RULES = `sources:
  - { name: bench, topic: bench/+/v, sensor: "{1}" }
rules:
  - name: spikes
    source: bench
    aggregates: []
    detectors:
      - { type: ewma, halfLife: 100, threshold: 6, minSamples: 20 }
    outputs: { local: "bench-alerts/{key}", upstream: false }
`;

/**
 * The noise probe: a 1 ms timer and nothing else, for `ms`; prints how late it fired (ms
 * beyond the 1 ms period: p99, p99.9, max) as one JSON line.
 */
const PROBE = `const h = require("node:perf_hooks").monitorEventLoopDelay({ resolution: 1 });
h.enable();
setTimeout(() => {
  h.disable();
  const late = (ns) => Math.max(0, ns / 1e6 - 1);
  console.log(JSON.stringify({ p99: late(h.percentile(99)), p999: late(h.percentile(99.9)), max: late(h.max) }));
}, Number(process.argv[1]));`;

interface Run {
  /** measured inside the agent: arrival to the broker's completion of the alert's publish (ms) */
  inP50: number;
  inP99: number;
  inWithin5ms: number;
  readingsPerSec: number;
  spikes: number;
  alerts: number;
  p50: number;
  p99: number;
  max: number;
  echoP50: number;
  echoP99: number;
  /** the agent process's CPU time over the whole run, start-up and drain included (s) */
  agentCpuS: number;
  /** the noise probe's timer lateness (ms) */
  noiseP99: number;
  noiseP999: number;
  noiseMax: number;
}

async function once(): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "brook-latency-"));
  const port = await freePort();
  const httpPort = await freePort();
  writeFileSync(join(dir, "rules.yaml"), RULES);
  writeFileSync(
    join(dir, "config.yaml"),
    `device: bench\nedge: { embedded: { port: ${port}, limits: { publishRate: 1000000 } } }\nrules: rules.yaml\ndataDir: ./data\nhttp: { port: ${httpPort} }\n`,
  );
  const agent = brook(["agent", "--config", join(dir, "config.yaml")]);
  try {
    await agent.waitForLine(/agent ready/, 30_000);
    const url = `mqtt://127.0.0.1:${port}`;
    const sub = await mqtt.connectAsync(url);
    const pub = await mqtt.connectAsync(url);
    // No Nagle on the benchmark's own connections either, or they measure TCP's delays.
    for (const c of [sub, pub])
      (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    const sent = new Map<number, number>();
    const latencies: number[] = [];
    const echoes: number[] = [];
    sub.on("message", (topic, payload) => {
      const now = performance.now();
      if (topic.startsWith("bench-echo/")) {
        const at = sent.get(Number(topic.slice(11)));
        if (at !== undefined) echoes.push(now - at);
        return;
      }
      const alert = JSON.parse(payload.toString()) as { ts: number; state?: string };
      if (alert.state !== "open") return;
      const at = sent.get(alert.ts);
      if (at !== undefined) latencies.push(now - at);
    });
    await sub.subscribeAsync(["bench-alerts/#", "bench-echo/#"], { qos: 0 });
    // Deterministic noise around 10 (a fixed LCG), spikes of 100.
    let seed = 20261121;
    const noise = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648 - 0.5;
    };
    let seq = 0;
    let spikes = 0;
    const total = rate * seconds;
    const perTick = (rate * TICK_MS) / 1000;
    const probe = start(process.execPath, ["-e", PROBE, String(seconds * 1000)]);
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(
          total,
          Math.floor(((performance.now() - started) / TICK_MS) * perTick),
        );
        for (; seq < due; seq++) {
          // Each round of SENSORS readings starts one sensor later, so spikes (every
          // SPIKE_EVERY-th reading) visit every sensor in turn, not the same few.
          const sensor = `s${(seq + Math.floor(seq / SENSORS)) % SENSORS}`;
          // Spikes only after every sensor is past its warm-up.
          const spike = seq > 25 * SENSORS && seq % SPIKE_EVERY === 0;
          const value = spike ? 100 : 10 + noise();
          const ts = 1_700_000_000_000 + seq;
          if (spike) {
            spikes++;
            sent.set(ts, performance.now());
            pub.publish(`bench-echo/${ts}`, "");
          }
          pub.publish(`bench/${sensor}/v`, `{"ts":${ts},"value":${value}}`);
        }
        if (seq >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    const elapsed = (performance.now() - started) / 1000;
    const idle = JSON.parse(await probe.waitForLine(/^\{/, 10_000)) as Record<string, number>;
    // Let the last alerts arrive.
    await new Promise((r) => setTimeout(r, 1_000));
    await sub.endAsync();
    await pub.endAsync();
    const agentCpuS = cpuSeconds(agent.child.pid);
    const inside = histogram(
      await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
      "brook_alert_latency_seconds",
    );
    return {
      inP50: inside.quantile(0.5) * 1000,
      inP99: inside.quantile(0.99) * 1000,
      inWithin5ms: inside.fractionWithin(0.005),
      readingsPerSec: total / elapsed,
      spikes,
      alerts: latencies.length,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      max: Math.max(...latencies),
      echoP50: quantile(echoes, 0.5),
      echoP99: quantile(echoes, 0.99),
      agentCpuS,
      noiseP99: idle.p99 ?? Number.NaN,
      noiseP999: idle.p999 ?? Number.NaN,
      noiseMax: idle.max ?? Number.NaN,
    };
  } finally {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Run[] = [];
for (let i = 0; i < runs; i++) {
  const r = await once();
  results.push(r);
  log(
    `run ${i + 1}: ${Math.round(r.readingsPerSec)} readings/s, ${r.alerts}/${r.spikes} spikes alerted; inside the agent p50 ${r.inP50.toFixed(2)} ms, p99 ${r.inP99.toFixed(2)} ms, ${(100 * r.inWithin5ms).toFixed(2)} % within 5 ms; end to end p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms; broker echo p50 ${r.echoP50.toFixed(2)} ms, p99 ${r.echoP99.toFixed(2)} ms; agent CPU ${r.agentCpuS.toFixed(2)} s; an idle process's timer late by p99 ${r.noiseP99.toFixed(2)} ms, p99.9 ${r.noiseP999.toFixed(2)} ms, max ${r.noiseMax.toFixed(1)} ms`,
  );
}
const pick = (f: (r: Run) => number) => median(results.map(f));
const summary = {
  runs,
  seconds,
  targetRate: rate,
  readingsPerSec: pick((r) => r.readingsPerSec),
  spikes: pick((r) => r.spikes),
  alerts: pick((r) => r.alerts),
  insideAgentMs: {
    p50: pick((r) => r.inP50),
    p99: pick((r) => r.inP99),
    within5ms: pick((r) => r.inWithin5ms),
  },
  alertLatencyMs: { p50: pick((r) => r.p50), p99: pick((r) => r.p99), max: pick((r) => r.max) },
  brokerEchoMs: { p50: pick((r) => r.echoP50), p99: pick((r) => r.echoP99) },
  p99RatioToEcho: pick((r) => r.p99 / r.echoP99),
  agentCpuSeconds: pick((r) => r.agentCpuS),
  machineNoiseMs: {
    p99: pick((r) => r.noiseP99),
    p999: pick((r) => r.noiseP999),
    max: pick((r) => r.noiseMax),
  },
};
log(
  `median of ${runs}: inside the agent p99 ${summary.insideAgentMs.p99.toFixed(2)} ms (${(100 * summary.insideAgentMs.within5ms).toFixed(2)} % within 5 ms); end to end p99 ${summary.alertLatencyMs.p99.toFixed(2)} ms (${summary.p99RatioToEcho.toFixed(2)}× the broker echo's p99) at ${Math.round(summary.readingsPerSec)} readings/s`,
);
if (json) console.log(JSON.stringify(summary));
