/**
 * `npm run bench:log [-- --json] [-- --seconds S] [-- --quick]`: what the reading log costs.
 *
 * 1. Storage (in-process): the same 130-byte records appended and committed in batches of
 *    1, 10, 100 and 1,000 to the two candidates — append-only segment files with CRC-32
 *    (agent/runtime/log-segments.ts, what the agent uses) and a SQLite table in WAL mode —
 *    with `synchronous` NORMAL (a crash of the process) and FULL (a power cut); then read
 *    back (replay) and truncated behind a checkpoint.
 * 2. End to end: a real `brook agent` (embedded broker) with the log on and with it off,
 *    interleaved at each rate, fed at QoS 1 by 4 publisher connections over 1,000 sensors for
 *    S seconds (default 5) at rising rates; a rate is sustained when every reading published
 *    is acknowledged and counted by the agent, and the publishers kept their pace (≥ 97 %).
 * 3. QoS 0 exposure: at 20,000/s QoS 0 with the log on, how long readings waited for the
 *    commit that makes them durable (brook_log_commit_wait_seconds): what a crash can lose.
 * With --json the last line is one JSON object.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import mqtt, { type MqttClient } from "mqtt";
import { type LogRecord, readLog, SegmentWriter } from "../agent/runtime/log-segments.js";
import { brook, freePort } from "../test/helpers/process.js";
import { cpuSeconds, histogram, humanLog, numberArg } from "./bench-util.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const quick = args.includes("--quick");
const seconds = numberArg(args, "--seconds", quick ? 3 : 5);
const log = humanLog(args);

// ---- 1. storage ---------------------------------------------------------------------------

const RECORDS = quick ? 50_000 : 200_000;
const record = (i: number) => ({
  at: 1_700_000_000_000 + i,
  eventAt: 1_700_000_000_000 + i,
  qos: 1,
  dup: false,
  client: `sensor-${i % 64}`,
  mid: (i % 65_535) + 1,
  topic: `sensors/dev-${i % 64}/s-${i % 1000}`,
  payload: Buffer.from(`{"ts":${1_700_000_000_000 + i},"value":${(i % 997) / 10}}`),
});

interface StorageResult {
  appendPerSec: number;
  replayPerSec?: number;
  truncateMs?: number;
}

function segments(batch: number, sync: boolean, n: number): StorageResult {
  const dir = mkdtempSync(join(tmpdir(), "brook-bench-log-"));
  const w = new SegmentWriter(dir, sync);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    w.appendMessage(record(i));
    if ((i + 1) % batch === 0) w.commit();
  }
  w.commit();
  const append = performance.now() - t0;
  const next = w.roll();
  let read = 0;
  const t1 = performance.now();
  readLog(dir, { segment: 0, offset: 0 }, (_r: LogRecord) => read++);
  const replay = performance.now() - t1;
  const t2 = performance.now();
  w.deleteBefore(next.segment);
  const truncate = performance.now() - t2;
  w.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    appendPerSec: (n / append) * 1000,
    replayPerSec: (read / replay) * 1000,
    truncateMs: truncate,
  };
}

function sqlite(batch: number, sync: boolean, n: number): StorageResult {
  const dir = mkdtempSync(join(tmpdir(), "brook-bench-log-"));
  const db = new Database(join(dir, "log.db"));
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${sync ? "FULL" : "NORMAL"}`);
  db.exec(
    "CREATE TABLE log (seq INTEGER PRIMARY KEY, at REAL, qos INTEGER, mid INTEGER, client TEXT, topic TEXT, payload BLOB)",
  );
  const insert = db.prepare(
    "INSERT INTO log (at, qos, mid, client, topic, payload) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const commit = db.transaction((rows: ReturnType<typeof record>[]) => {
    for (const r of rows) insert.run(r.at, r.qos, r.mid, r.client, r.topic, r.payload);
  });
  const t0 = performance.now();
  let pending: ReturnType<typeof record>[] = [];
  for (let i = 0; i < n; i++) {
    pending.push(record(i));
    if (pending.length === batch) {
      commit(pending);
      pending = [];
    }
  }
  commit(pending);
  const append = performance.now() - t0;
  let read = 0;
  const t1 = performance.now();
  for (const _row of db.prepare("SELECT * FROM log ORDER BY seq").iterate()) read++;
  const replay = performance.now() - t1;
  const t2 = performance.now();
  db.prepare("DELETE FROM log WHERE seq <= ?").run(n);
  const truncate = performance.now() - t2;
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    appendPerSec: (n / append) * 1000,
    replayPerSec: (read / replay) * 1000,
    truncateMs: truncate,
  };
}

const storage: Record<string, Record<string, StorageResult>> = {};
for (const sync of [false, true]) {
  for (const batch of [1, 10, 100, 1000]) {
    // A synced commit per record takes milliseconds on most disks: fewer of them.
    const n = sync ? Math.min(RECORDS, batch * 500) : RECORDS;
    const name = `${sync ? "FULL" : "NORMAL"} batch ${batch}`;
    storage[name] = { segments: segments(batch, sync, n), sqlite: sqlite(batch, sync, n) };
    const s = storage[name];
    log(
      `storage ${name.padEnd(18)} segments ${Math.round(s.segments?.appendPerSec ?? 0)
        .toLocaleString("en-US")
        .padStart(10)}/s   sqlite ${Math.round(s.sqlite?.appendPerSec ?? 0)
        .toLocaleString("en-US")
        .padStart(
          10,
        )}/s   (${((s.segments?.appendPerSec ?? 0) / (s.sqlite?.appendPerSec ?? 1)).toFixed(1)}×)`,
    );
  }
}
const replay = storage["NORMAL batch 100"];
log(
  `replay: segments ${Math.round(replay?.segments?.replayPerSec ?? 0).toLocaleString("en-US")}/s, sqlite ${Math.round(replay?.sqlite?.replayPerSec ?? 0).toLocaleString("en-US")}/s; truncating ${RECORDS.toLocaleString("en-US")} records: segments ${replay?.segments?.truncateMs?.toFixed(1)} ms, sqlite ${replay?.sqlite?.truncateMs?.toFixed(1)} ms`,
);

// ---- 2. end to end ------------------------------------------------------------------------

const SENSORS = 1_000;
const PUBLISHERS = 4;
const TICK_MS = 5;

interface Run {
  rate: number;
  log: boolean;
  published: number;
  counted: number;
  /** the publishers' achieved rate over the target */
  paced: number;
  agentCpuS: number;
  sustained: boolean;
  commitWaitMs?: { p50: number; p99: number };
}

async function feed(logOn: boolean, rate: number, qos: 0 | 1): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "brook-bench-log-e2e-"));
  const port = await freePort();
  const httpPort = await freePort();
  writeFileSync(
    join(dir, "config.yaml"),
    [
      "device: bench",
      `edge: { embedded: { port: ${port}, limits: { publishRate: 1000000 } } }`,
      "dataDir: ./data",
      `http: { port: ${httpPort} }`,
      `readingLog: { enabled: ${logOn} }`,
      "",
    ].join("\n"),
  );
  const agent = brook(["agent", "--config", join(dir, "config.yaml")]);
  try {
    await agent.waitForLine(/agent ready/, 30_000);
    const cpu0 = cpuSeconds(agent.child.pid);
    const url = `mqtt://127.0.0.1:${port}`;
    const pubs: MqttClient[] = [];
    for (let p = 0; p < PUBLISHERS; p++)
      pubs.push(await mqtt.connectAsync(url, { clientId: `p${p}` }));
    const total = rate * seconds;
    const perTick = (rate * TICK_MS) / 1000;
    const acks: Promise<unknown>[] = [];
    let seq = 0;
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(
          total,
          Math.floor(((performance.now() - started) / TICK_MS) * perTick),
        );
        for (; seq < due; seq++) {
          const pub = pubs[seq % PUBLISHERS] as MqttClient;
          const payload = `{"ts":${1_700_000_000_000 + seq},"value":${seq % 97}}`;
          const topic = `sensors/dev/s${seq % SENSORS}`;
          if (qos === 1) acks.push(pub.publishAsync(topic, payload, { qos: 1 }));
          else pub.publish(topic, payload);
        }
        if (seq >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    const elapsed = (performance.now() - started) / 1000;
    await Promise.race([Promise.all(acks), new Promise((r) => setTimeout(r, 5_000))]);
    // QoS 0 has no acknowledgement: give the agent a moment to take what is in flight.
    await new Promise((r) => setTimeout(r, qos === 0 ? 1_000 : 200));
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const counted = Number(/^brook_readings_total (\d+)$/m.exec(metrics)?.[1] ?? 0);
    const agentCpuS = cpuSeconds(agent.child.pid) - cpu0;
    for (const p of pubs) await p.endAsync();
    const paced = total / elapsed / rate;
    const wait = histogram(metrics, "brook_log_commit_wait_seconds");
    return {
      rate,
      log: logOn,
      published: total,
      counted,
      paced,
      agentCpuS,
      sustained: counted === total && paced >= 0.97,
      commitWaitMs: logOn
        ? { p50: wait.quantile(0.5) * 1000, p99: wait.quantile(0.99) * 1000 }
        : undefined,
    };
  } finally {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const RATES = quick ? [10_000, 20_000, 30_000] : [10_000, 20_000, 30_000, 40_000, 50_000, 60_000];
const runs: Run[] = [];
const sustained = { on: 0, off: 0 };
for (const rate of RATES) {
  for (const logOn of [true, false]) {
    const r = await feed(logOn, rate, 1);
    runs.push(r);
    if (r.sustained)
      sustained[logOn ? "on" : "off"] = Math.max(sustained[logOn ? "on" : "off"], rate);
    log(
      `QoS 1 ${String(rate).padStart(6)}/s log ${logOn ? "on " : "off"}: ${r.counted}/${r.published} counted, publishers at ${(100 * r.paced).toFixed(1)} % of the rate, agent CPU ${r.agentCpuS.toFixed(2)} s (${((r.agentCpuS / r.published) * 1e6).toFixed(1)} µs a reading)${r.sustained ? "" : "  NOT sustained"}`,
    );
  }
}
const cpuPerReading = (on: boolean) => {
  const both = RATES.map((rate) => runs.filter((r) => r.rate === rate && r.sustained));
  const pairs = both.filter((p) => p.length === 2);
  const pick = (r: Run[]) => r.find((x) => x.log === on) as Run;
  return pairs.map((p) => (pick(p).agentCpuS / pick(p).published) * 1e6);
};
const qos0 = await feed(true, 20_000, 0);
log(
  `QoS 0 20000/s log on: commit wait p50 ${qos0.commitWaitMs?.p50.toFixed(3)} ms, p99 ${qos0.commitWaitMs?.p99.toFixed(3)} ms (what a crash could lose: at most those readings)`,
);
const summary = {
  machine: { cores: cpus().length, model: cpus()[0]?.model },
  storage,
  endToEnd: {
    seconds,
    sustainedPerSec: sustained,
    ratioLogOnToOff: sustained.off === 0 ? Number.NaN : sustained.on / sustained.off,
    cpuUsPerReading: { on: cpuPerReading(true), off: cpuPerReading(false) },
    runs,
  },
  qos0CommitWaitMs: qos0.commitWaitMs,
};
log(
  `sustained with zero loss: log on ${sustained.on}/s, off ${sustained.off}/s (${summary.endToEnd.ratioLogOnToOff.toFixed(2)}×)`,
);
if (json) console.log(JSON.stringify(summary));
