/**
 * `npm run bench:sim [-- --json] [-- --runs N] [-- --seconds S] [-- --rate R]`: how closely
 * `brook sim --rate R` (default 50,000 messages/s) holds its rate. Each run publishes a
 * fleet of 500 devices × 4 sensors, QoS 0, to a real mosquitto for S seconds (default 12),
 * while this process counts what the broker delivers to a subscriber. Reported: the
 * achieved rate, its lowest and highest over every 10 s window after the first second,
 * and the delivered count. Baseline, in the same run: the same stream `--speed max`, the
 * most the simulator and broker take, so the target's headroom is plain. Medians of N runs
 * (default 3). With --json the last line is one JSON object.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { startMosquitto } from "../test/helpers/mosquitto.js";
import { brook } from "../test/helpers/process.js";
import { humanLog, median, numberArg } from "./bench-util.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const runs = numberArg(args, "--runs", 3);
const seconds = numberArg(args, "--seconds", 12);
const rate = numberArg(args, "--rate", 50_000);
const CHANNELS = 500 * 4;
const log = humanLog(args);

interface SimReport {
  sent: number;
  seconds: number;
  achieved: number;
  window10s?: { min: number; max: number };
}

async function simRun(url: string, pace: string[], messages: number, counted: () => number) {
  const before = counted();
  // Event time long enough for `messages` readings; a fixed start keeps every run alike.
  const duration = `${Math.ceil(messages / CHANNELS)}s`;
  const sim = brook([
    "sim",
    "--broker",
    url,
    "--devices",
    "500",
    "--sensors",
    "temperature,humidity,pressure,vibration",
    "--start",
    "2026-01-01T00:00:00Z",
    "--duration",
    duration,
    "--json",
    ...pace,
  ]);
  const code = await sim.exited(10 * 60_000);
  if (code !== 0) throw new Error(`brook sim exited ${code}:\n${sim.output()}`);
  const report = JSON.parse(sim.output().trim().split("\n").at(-1) as string) as SimReport;
  // QoS 0 on loopback: wait (bounded) for the broker to hand over what it took.
  const deadline = Date.now() + 10_000;
  while (counted() - before < report.sent && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  return { ...report, delivered: counted() - before };
}

const dir = mkdtempSync(join(tmpdir(), "brook-bench-sim-"));
const broker = await startMosquitto(dir);
let received = 0;
const counter = mqtt.connect(broker.url, { clientId: "bench-sim-counter" });
counter.on("message", () => {
  received++;
});
await counter.subscribeAsync("sensors/#", { qos: 0 });

const results: {
  achieved: number;
  errorPct: number;
  windowMin: number;
  windowMax: number;
  delivered: number;
  sent: number;
  maxPace: number;
}[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const target = await simRun(
      broker.url,
      ["--rate", String(rate)],
      rate * seconds,
      () => received,
    );
    const max = await simRun(broker.url, ["--speed", "max"], rate * seconds, () => received);
    const r = {
      achieved: target.achieved,
      errorPct: ((target.achieved - rate) / rate) * 100,
      windowMin: target.window10s?.min ?? Number.NaN,
      windowMax: target.window10s?.max ?? Number.NaN,
      delivered: target.delivered,
      sent: target.sent,
      maxPace: max.achieved,
    };
    results.push(r);
    log(
      `run ${i + 1}: ${Math.round(r.achieved)} msgs/s (${r.errorPct.toFixed(2)} % off ${rate}); 10 s windows ${Math.round(r.windowMin)}–${Math.round(r.windowMax)}; delivered ${r.delivered}/${r.sent}; --speed max ${Math.round(r.maxPace)} msgs/s`,
    );
  }
} finally {
  await counter.endAsync();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}

const m = (f: (r: (typeof results)[number]) => number) => median(results.map(f));
const summary = {
  node: process.version,
  target: rate,
  seconds,
  runs,
  achieved: m((r) => r.achieved),
  errorPct: m((r) => r.errorPct),
  window10sMin: m((r) => r.windowMin),
  window10sMax: m((r) => r.windowMax),
  worstWindowErrorPct: Math.max(
    ...results.flatMap((r) =>
      [r.windowMin, r.windowMax].map((w) => (Math.abs(w - rate) / rate) * 100),
    ),
  ),
  delivered: m((r) => r.delivered / r.sent),
  baselineMaxPace: m((r) => r.maxPace),
  headroom: m((r) => r.maxPace / rate),
};
log(
  `median of ${runs}: ${Math.round(summary.achieved)} msgs/s for a target of ${rate} (${summary.errorPct.toFixed(2)} %); every 10 s window within ${summary.worstWindowErrorPct.toFixed(2)} %; delivered ${(summary.delivered * 100).toFixed(2)} %; baseline --speed max ${Math.round(summary.baselineMaxPace)} msgs/s (${summary.headroom.toFixed(2)}× the target)`,
);
if (json) console.log(JSON.stringify(summary));
