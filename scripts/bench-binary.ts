/**
 * `npm run bench:binary [-- --json] [-- --runs N] [-- --seconds S] [-- --phases idle,loaded,aedes,sizes]
 * [-- --binary FILE]`: the single binary's
 * footprint, as docs/BENCHMARKS.md states it (issue targets beside each figure):
 * - its size, raw and `xz -9` compressed, per arch built;
 * - exec → "agent ready" of `brook agent` on the embedded broker (target ≤ 250 ms), and its
 *   RSS once idle, 5 s after ready (≤ 60 MB), with its anonymous and file-backed parts;
 * - the peak over that idle RSS while a maximum-size payload (limits.maxPacketBytes, 64 KiB)
 *   is taken and parsed and a 5 MB one refused (≤ idle + 32 MB);
 * - loaded: 10,000 sensors at 20,000 readings/s (QoS 0, from this process) through the
 *   embedded broker for S seconds (default 60) with the default rule plus a 60-reading
 *   z-score rule: the agent's RSS, median of the last half and peak (≤ 80 MB), and the
 *   readings it counted against those published.
 * Baselines in the same run, on the Node embedded: `node -e 0` (start-up), a bare Node
 * process idle (RSS), and aedes alone as a broker taking the same load in-process
 * (scripts/binary/aedes-only.mjs). Medians of N runs (default 5) for the idle figures.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { generate } from "mqtt-packet";
import { rawMqttClient } from "../test/helpers/raw-mqtt.js";
import {
  cpuSeconds,
  humanLog,
  median,
  memoryMb as memory,
  numberArg,
  resetPeak,
} from "./bench-util.js";
import { NODE_VERSION } from "./build-binary.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const runs = numberArg(args, "--runs", 5);
const loadedSeconds = numberArg(args, "--seconds", 60);
const SENSORS = 10_000;
const RATE = 20_000;
const MAX_PAYLOAD = 64 * 1024;
const TARGETS = { readyMs: 250, idleRssMb: 60, payloadPeakOverIdleMb: 32, loadedRssMb: 80 };
const root = fileURLToPath(new URL("..", import.meta.url));
const log = humanLog(args);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** `--phases idle,loaded,aedes` (default all) runs only some of the measurements. */
const phases = new Set(
  (args[args.indexOf("--phases") + 1] ?? "")
    .split(",")
    .filter((p) => args.includes("--phases") && p),
);
const phase = (name: string) => phases.size === 0 || phases.has(name);
/** For trying flags: BENCH_NODE_OPTIONS is passed to the binary as NODE_OPTIONS, and glibc's MALLOC_* and GLIBC_TUNABLES as they are. */
const childEnv: Record<string, string> = Object.fromEntries(
  Object.entries(process.env)
    .filter(([k]) => k.startsWith("MALLOC_") || k.startsWith("UV_") || k === "GLIBC_TUNABLES")
    .concat(
      process.env.BENCH_NODE_OPTIONS ? [["NODE_OPTIONS", process.env.BENCH_NODE_OPTIONS]] : [],
    ),
) as Record<string, string>;

const sizes: Record<string, { raw: number; xz: number }> = {};
for (const arch of phase("sizes") ? ["x64", "arm64"] : []) {
  const file = join(root, "dist", `brook-linux-${arch}`);
  if (!existsSync(file)) continue;
  const xz = execFileSync("xz", ["-9", "-T2", "-c", file], { maxBuffer: 1 << 30 }).length;
  sizes[arch] = { raw: statSync(file).size, xz };
  log(`${arch}: ${(sizes[arch].raw / 1e6).toFixed(1)} MB raw, ${(xz / 1e6).toFixed(1)} MB xz -9`);
}
/** `--binary FILE` measures another build of the same Node (a before/after comparison). */
const binary = args.includes("--binary")
  ? (args[args.indexOf("--binary") + 1] as string)
  : join(root, "dist", `brook-linux-${process.arch}`);
const node22 = join(
  root,
  "dist",
  ".build",
  `node-v${NODE_VERSION}-linux-${process.arch}`,
  "bin",
  "node",
);
if (!existsSync(binary) || !existsSync(node22))
  throw new Error(`no ${binary} (or its Node): npm run build:binary first`);

/**
 * Drops `file` from the page cache (GNU dd, no root needed), so each start maps it as a device
 * does after a boot. Right after a build the whole binary is cached, and the kernel's
 * fault-around then maps 10–15 MB more of it into the process than a cold start does.
 */
const evict = (file: string) =>
  execFileSync("dd", [`if=${file}`, "iflag=nocache", "count=0", "status=none"]);

interface Started {
  pid: number;
  ms: number;
  line: string;
  stop(): Promise<void>;
}

/** Spawns `command` and resolves at the first output line matching `ready`, with the time it took. */
function startUntil(command: string, argv: string[], cwd: string, ready: RegExp): Promise<Started> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, argv, { cwd, stdio: ["ignore", "pipe", "pipe"], env: childEnv });
    let text = "";
    let done = false;
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split("\n").find((l) => ready.test(l));
      if (done || line === undefined) return;
      done = true;
      const exited = new Promise<void>((r) => child.on("exit", () => r()));
      resolve({
        pid: child.pid as number,
        ms: performance.now() - t0,
        line,
        stop: async () => {
          child.kill("SIGTERM");
          await exited;
        },
      });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      if (!done) reject(new Error(`${command} exited ${code} before ready:\n${text}`));
    });
  });
}

/** `brook agent` on the embedded broker, with `rules` if given; its edge URL and HTTP port from its ready line. */
async function startAgent(dir: string, rules?: string) {
  const rulesLine = rules === undefined ? "" : "rules: rules.yaml\n";
  if (rules !== undefined) writeFileSync(join(dir, "rules.yaml"), rules);
  writeFileSync(
    join(dir, "config.yaml"),
    `device: bench\nedge: { embedded: { host: 127.0.0.1, port: 0, limits: { publishRate: 1000000 } } }\ndataDir: ./data\nhttp: { host: 127.0.0.1, port: 0 }\n${rulesLine}`,
  );
  rmSync(join(dir, "data"), { recursive: true, force: true });
  evict(binary);
  const agent = await startUntil(binary, ["agent", "-c", "config.yaml"], dir, /agent ready/);
  const ready = JSON.parse(agent.line) as { edge: string; http: number };
  return { ...agent, edge: ready.edge, http: ready.http };
}

/** The biggest payload the broker takes, parsed as a reading, then a 5 MB one it refuses at its header. */
async function payloads(edge: string): Promise<void> {
  const client = await mqtt.connectAsync(edge, { reconnectPeriod: 0 });
  const head = '{"ts":1700000000000,"value":1,"pad":"';
  const body = `${head}${"x".repeat(MAX_PAYLOAD - 64 - head.length)}"}`;
  await client.publishAsync("sensors/bench/big", body, { qos: 1 });
  await client.endAsync();
  const socket = await rawMqttClient(Number(new URL(edge).port), "huge");
  // The broker closes the connection at the oversized header: the rest of the write fails.
  socket.on("error", () => {});
  socket.write(
    generate({
      cmd: "publish",
      topic: "sensors/bench/huge",
      payload: Buffer.alloc(5_000_000, 120),
      qos: 0,
      retain: false,
      dup: false,
    }),
  );
  await new Promise((r) => socket.once("close", r));
}

/** Publishes `rate` readings/s over SENSORS sensors for `seconds`, sampling `pid`'s RSS every 500 ms. */
async function load(edge: string, pid: number, seconds: number) {
  const client = await mqtt.connectAsync(edge, { reconnectPeriod: 0 });
  const samples: number[] = [];
  resetPeak(pid);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  let sent = 0;
  let seed = 1;
  const noise = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  let nextSample = 0;
  for (;;) {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= seconds) break;
    const due = Math.floor(elapsed * RATE) - sent;
    const ts = Date.now();
    for (let i = 0; i < due; i++, sent++) {
      const value = (20 + noise() * 2).toFixed(3);
      client.publish(`sensors/bench/s${sent % SENSORS}`, `{"ts":${ts},"value":${value}}`, {
        qos: 0,
      });
    }
    if (elapsed >= nextSample) {
      samples.push(memory(pid).rss);
      nextSample += 0.5;
    }
    await sleep(5);
  }
  await client.endAsync();
  const steady = samples.slice(Math.floor(samples.length / 2));
  const cpuUsPerReading = ((cpuSeconds(pid) - cpu0) * 1e6) / sent;
  return {
    published: sent,
    rssMedianMb: median(steady),
    rssPeakMb: memory(pid).peak,
    cpuUsPerReading,
  };
}

async function counted(http: number, published: number): Promise<number> {
  let taken = 0;
  for (let i = 0; i < 100 && taken < published; i++) {
    const text = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
    taken = Number(/^brook_readings_total (\d+)/m.exec(text)?.[1] ?? 0);
    if (taken < published) await sleep(100);
  }
  return taken;
}

const dir = mkdtempSync(join(tmpdir(), "brook-bench-binary-"));
const idle = {
  readyMs: [] as number[],
  rss: [] as number[],
  anon: [] as number[],
  file: [] as number[],
  payloadPeak: [] as number[],
};
const bare = { startMs: [] as number[], idleRss: [] as number[] };
let summary: object;
try {
  for (let i = 0; i < (phase("idle") ? runs : 0); i++) {
    const agent = await startAgent(dir);
    await sleep(5_000);
    const m = memory(agent.pid);
    resetPeak(agent.pid);
    await payloads(agent.edge);
    await sleep(1_000);
    const peak = memory(agent.pid).peak - m.rss;
    await agent.stop();
    idle.readyMs.push(agent.ms);
    idle.rss.push(m.rss);
    idle.anon.push(m.anon);
    idle.file.push(m.file);
    idle.payloadPeak.push(peak);
    evict(node22);
    const zero = await startUntil(node22, ["-e", "console.log('up')"], dir, /up/);
    bare.startMs.push(zero.ms);
    await zero.stop();
    const idleNode = await startUntil(
      node22,
      ["-e", "console.log('up'); setInterval(() => {}, 1e6)"],
      dir,
      /up/,
    );
    await sleep(2_000);
    bare.idleRss.push(memory(idleNode.pid).rss);
    await idleNode.stop();
    log(
      `run ${i + 1}: ready in ${agent.ms.toFixed(0)} ms, idle RSS ${m.rss.toFixed(1)} MB (anon ${m.anon.toFixed(1)}, file ${m.file.toFixed(1)}), peak over idle with the largest payloads ${peak.toFixed(1)} MB`,
    );
  }
  const rules = `rules:\n  - { name: default, window: { type: tumbling } }\n  - name: spikes\n    window: { type: count, n: 60 }\n    aggregates: []\n    detectors: [{ type: zscore }]\n`;
  const skipped = {
    published: Number.NaN,
    rssMedianMb: Number.NaN,
    rssPeakMb: Number.NaN,
    cpuUsPerReading: Number.NaN,
  };
  let loaded = skipped;
  let taken = Number.NaN;
  if (phase("loaded")) {
    const agent = await startAgent(dir, rules);
    loaded = await load(agent.edge, agent.pid, loadedSeconds);
    taken = await counted(agent.http, loaded.published);
    await agent.stop();
    log(
      `loaded: ${loaded.published} readings published, ${taken} counted; agent RSS median ${loaded.rssMedianMb.toFixed(1)} MB, peak ${loaded.rssPeakMb.toFixed(1)} MB; CPU ${loaded.cpuUsPerReading.toFixed(1)} µs a reading`,
    );
  }
  let aedesLoaded = skipped;
  if (phase("aedes")) {
    const aedes = await startUntil(
      node22,
      [join(root, "scripts/binary/aedes-only.mjs")],
      root,
      /^ready \d+/,
    );
    aedesLoaded = await load(
      `mqtt://127.0.0.1:${aedes.line.split(" ")[1]}`,
      aedes.pid,
      loadedSeconds,
    );
    await aedes.stop();
    log(
      `aedes alone under the same load: RSS median ${aedesLoaded.rssMedianMb.toFixed(1)} MB, peak ${aedesLoaded.rssPeakMb.toFixed(1)} MB; CPU ${aedesLoaded.cpuUsPerReading.toFixed(1)} µs a message`,
    );
  }
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const figures = {
    readyMs: Math.round(median(idle.readyMs)),
    idleRssMb: r1(median(idle.rss)),
    payloadPeakOverIdleMb: r1(median(idle.payloadPeak)),
    loadedRssMb: r1(loaded.rssPeakMb),
  };
  summary = {
    node: NODE_VERSION,
    arch: process.arch,
    sizes,
    runs,
    ...figures,
    idleAnonMb: r1(median(idle.anon)),
    idleFileMb: r1(median(idle.file)),
    loaded: {
      sensors: SENSORS,
      rate: RATE,
      seconds: loadedSeconds,
      published: loaded.published,
      counted: taken,
      rssMedianMb: r1(loaded.rssMedianMb),
      rssPeakMb: r1(loaded.rssPeakMb),
      cpuUsPerReading: r1(loaded.cpuUsPerReading),
    },
    baseline: {
      nodeStartMs: Math.round(median(bare.startMs)),
      nodeIdleRssMb: r1(median(bare.idleRss)),
      aedesLoadedRssMedianMb: r1(aedesLoaded.rssMedianMb),
      aedesLoadedRssPeakMb: r1(aedesLoaded.rssPeakMb),
      aedesCpuUsPerMessage: r1(aedesLoaded.cpuUsPerReading),
    },
    targets: TARGETS,
    met: Object.fromEntries(
      Object.entries(TARGETS).map(([k, t]) => [k, figures[k as keyof typeof figures] <= t]),
    ),
  };
  log(
    `median of ${runs}: exec → "agent ready" ${figures.readyMs} ms (node -e 0: ${Math.round(median(bare.startMs))} ms); idle RSS ${figures.idleRssMb} MB (bare node ${r1(median(bare.idleRss))} MB); payload peak over idle ${figures.payloadPeakOverIdleMb} MB; loaded peak ${figures.loadedRssMb} MB (aedes alone ${r1(aedesLoaded.rssPeakMb)} MB)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (json) console.log(JSON.stringify(summary));
