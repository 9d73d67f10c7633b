/**
 * `npm run bench:sync [-- --json] [-- --runs N] [-- --rows N]`: the outbox and the uplink.
 *  - insertPerSec: SqliteOutbox.append in batches of 1,000 (~200-byte results), beside a
 *    baseline of bare better-sqlite3 inserts in batches of 1,000 into the same kind of table;
 *  - drainPerSec: a backlog of 1,000,000 results in the outbox, drained to a real mosquitto
 *    (started here on a free loopback port) once the link is up, 100 results per message;
 *  - bytesPerResult: the outbox file (with its WAL) per result, for that backlog.
 * Medians of N runs (default 3). With --json the last line is one JSON object.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { type OutboxRecord, Priority } from "../cloud-sync/outbox.js";
import { SqliteOutbox } from "../cloud-sync/sqlite-outbox.js";
import { Uplink } from "../cloud-sync/uplink.js";
import { startMosquitto } from "../test/helpers/mosquitto.js";
import { humanLog, median, numberArg } from "./bench-util.js";

const args = process.argv.slice(2);
const runs = numberArg(args, "--runs", 3);
const backlog = numberArg(args, "--rows", 1_000_000);
const log = humanLog(args);

function result(i: number): OutboxRecord {
  const payload = Buffer.from(
    JSON.stringify({
      kind: "agg",
      id: `${(i * 2654435761) % 4294967296}`.padStart(32, "0"),
      revision: 0,
      device: "bench-pi",
      rule: "per-minute",
      key: `site-${i % 100}/sensor-${i % 10_000}`,
      start: 1_700_000_000_000 + i * 60_000,
      end: 1_700_000_060_000 + i * 60_000,
      partial: false,
      aggregates: { count: 600, mean: 21.5, min: 19.25, max: 23.75 },
    }),
  );
  return {
    id: `id-${i}`,
    revision: 0,
    priority: Priority.aggregate,
    topic: "brook/bench-pi/agg/per-minute",
    payload,
  };
}

const BATCH = 1_000;

function fill(outbox: SqliteOutbox, rows: number): number {
  const started = performance.now();
  for (let i = 0; i < rows; i += BATCH) {
    const batch: OutboxRecord[] = [];
    for (let j = i; j < Math.min(rows, i + BATCH); j++) batch.push(result(j));
    outbox.append(batch, Date.now());
  }
  return rows / ((performance.now() - started) / 1000);
}

function baselineInserts(file: string, rows: number): number {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE t (seq INTEGER PRIMARY KEY, id TEXT, payload BLOB)");
  const insert = db.prepare("INSERT INTO t (id, payload) VALUES (?, ?)");
  const tx = db.transaction((batch: OutboxRecord[]) => {
    for (const r of batch) insert.run(r.id, r.payload);
  });
  const started = performance.now();
  for (let i = 0; i < rows; i += BATCH) {
    const batch: OutboxRecord[] = [];
    for (let j = i; j < Math.min(rows, i + BATCH); j++) batch.push(result(j));
    tx(batch);
  }
  const perSec = rows / ((performance.now() - started) / 1000);
  db.close();
  return perSec;
}

const fileBytes = (file: string) =>
  [file, `${file}-wal`].filter(existsSync).reduce((n, f) => n + statSync(f).size, 0);

const dir = mkdtempSync(join(tmpdir(), "brook-bench-sync-"));
const broker = await startMosquitto(dir);
const inserts: number[] = [];
const baselines: number[] = [];
const drains: number[] = [];
const bytes: number[] = [];
try {
  for (let run = 0; run < runs; run++) {
    baselines.push(baselineInserts(join(dir, `baseline-${run}.db`), 200_000));
    const file = join(dir, `outbox-${run}.db`);
    const outbox = new SqliteOutbox(file);
    inserts.push(fill(outbox, backlog));
    bytes.push(fileBytes(file) / backlog);
    // The link comes back: drain the backlog to mosquitto.
    const client = mqtt.connect(broker.url, {
      clientId: `bench-${run}`,
      manualConnect: true,
      reconnectPeriod: 0,
      protocolVersion: 5,
    });
    const uplink = new Uplink({ outbox, client, batchSize: 100, maxInFlight: 16 });
    const started = performance.now();
    uplink.start();
    const drained = await uplink.waitIdle(600_000);
    const seconds = (performance.now() - started) / 1000;
    if (!drained)
      throw new Error(
        `run ${run}: the backlog did not drain in 10 minutes (${outbox.depth()} left)`,
      );
    drains.push(backlog / seconds);
    await uplink.stop();
    outbox.close();
    rmSync(file, { force: true });
    rmSync(`${file}-wal`, { force: true });
    log(
      `run ${run + 1}/${runs}: insert ${Math.round(inserts.at(-1) as number)}/s (baseline ${Math.round(baselines.at(-1) as number)}/s), drain ${Math.round(drains.at(-1) as number)}/s, ${Math.round(bytes.at(-1) as number)} B/result`,
    );
  }
} finally {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}
const summary = {
  insertPerSec: Math.round(median(inserts)),
  insertBaselinePerSec: Math.round(median(baselines)),
  insertRatioToBaseline: Math.round((median(inserts) / median(baselines)) * 100) / 100,
  drainPerSec: Math.round(median(drains)),
  bytesPerResult: Math.round(median(bytes)),
  backlog,
  runs,
  node: process.version,
  cpu: `${cpus().length} × ${cpus()[0]?.model ?? "unknown"}`,
};
console.log(JSON.stringify(summary));
