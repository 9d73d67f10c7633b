// The latency probe of `npm run bench:e2e`, in a process of its own (so that the benchmark's
// counters do not delay what it receives): publishes JSON readings on `sensors/lat-<n>/level`
// (SENSORS sensors, RATE readings/s in all; each sensor's every 30th reading a spike, the
// others ordinary with a little noise: in a 60-reading window two spikes still stand out
// by more than 5σ) and waits for each spike to come out of the system:
//   alert       Brook's alert opening on the edge broker (brook/<device>/alert/<rule>/<key>)
//   message     the spike itself, routed by a plain broker
//   node-red    the Node-RED flow's result for it, flagged as an anomaly
// usage: node latency-probe.mjs URL QOS MODE SECONDS
// Prints one JSON line: {spikes, seen, p50Ms, p99Ms, maxMs}.
import { performance } from "node:perf_hooks";
import mqtt from "mqtt";

const [url, qosArg, mode, secondsArg] = process.argv.slice(2);
const qos = Number(qosArg);
const seconds = Number(secondsArg);
const SENSORS = 50;
const RATE = 2_000;
const CYCLE = 30;
const TICK_MS = 5;
/** No spike before the fleet's publishers, started with the probe, are up and running. */
const WARMUP_MS = 1_000;

const topicOf = (n) => `sensors/lat-${n}/level`;
const sensorOf = (topic) => /lat-(\d+)\/level/.exec(topic)?.[1];
const filter = {
  alert: "brook/+/alert/#",
  message: "sensors/+/level",
  "node-red": "results/sensors/+/level",
}[mode];
if (filter === undefined) throw new Error(`unknown mode ${mode}`);

/** sensor → when its spike was published (performance.now()), until it comes out */
const pending = new Map();
const latencies = [];
let spikes = 0;

const spiked = (payload) => {
  const body = JSON.parse(payload.toString());
  if (mode === "alert") return body.state === "open";
  if (mode === "message") return body.value >= 1000;
  return body.payload?.anomaly === true || body.anomaly === true;
};

/** The probe's own sockets send at once (mqtt.js leaves Nagle's algorithm on: 40 ms stalls). */
const noDelay = (client) => client.stream?.setNoDelay?.(true);
const sub = await mqtt.connectAsync(url, { clientId: `latency-probe-sub-${process.pid}` });
noDelay(sub);
sub.on("message", (topic, payload) => {
  const at = performance.now();
  const sensor = sensorOf(topic);
  const sent = sensor === undefined ? undefined : pending.get(sensor);
  if (sent === undefined || !spiked(payload)) return;
  pending.delete(sensor);
  latencies.push(at - sent);
});
await sub.subscribeAsync(filter, { qos });
const pub = await mqtt.connectAsync(url, { clientId: `latency-probe-pub-${process.pid}` });
noDelay(pub);

const counts = new Array(SENSORS).fill(0);
let next = 0;
const t0 = performance.now();
let published = 0;
const timer = setInterval(() => {
  // Paced by the clock, not by the timer's ticks (which come late on a loaded machine).
  const due = Math.floor(((performance.now() - t0) * RATE) / 1000);
  for (; published < due; published++) {
    const n = next;
    next = (next + 1) % SENSORS;
    const i = counts[n]++;
    const spike = i % CYCLE === CYCLE - 1 && performance.now() - t0 >= WARMUP_MS;
    const value = spike ? 1000 : 20 + ((i * 7) % 10) / 10;
    if (spike) {
      spikes++;
      pending.set(String(n), performance.now());
    }
    pub.publish(topicOf(n), `{"ts":${Date.now()},"value":${value}}`, { qos });
  }
}, TICK_MS);
await new Promise((r) => setTimeout(r, seconds * 1000));
clearInterval(timer);
// What is still on its way: a second more.
await new Promise((r) => setTimeout(r, 1000));
await pub.endAsync();
await sub.endAsync();
latencies.sort((a, b) => a - b);
const at = (q) =>
  latencies.length === 0
    ? null
    : Math.round(
        latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 100,
      ) / 100;
process.stdout.write(
  `${JSON.stringify({ spikes, seen: latencies.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) })}\n`,
);
