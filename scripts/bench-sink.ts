/**
 * `npm run bench:sink [-- --json] [-- --results 200000]`: how many results a second the
 * PostgreSQL sink stores, on this machine, with the database on it (Debian's postgresql,
 * fsync and synchronous commits on, as a production server has them). In one run:
 * - baseline: a plain batched INSERT of the same rows (100 a transaction, one connection,
 *   the same table and indexes, no ON CONFLICT, no counters);
 * - store: PgStore.write, a message's 100 results a transaction (the sink's database work
 *   without MQTT), with 1, 2 and 3 writers at once;
 * - sink: the whole path, `brook cloud-sink` processes (1, 2, 3 in one --group) behind a
 *   mosquitto, fed by one publisher with messages of 100 results at QoS 1, timed until
 *   PostgreSQL holds them all.
 * Ratios are against the baseline measured in the same run. The last line is one JSON
 * object with --json.
 */
import { mkdtempSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import pg from "pg";
import { insertRows, PgStore, rowArrays } from "../cloud-sync/pg-store.js";
import type { Incoming } from "../cloud-sync/result-store.js";
import { startMosquitto } from "../test/helpers/mosquitto.js";
import { startPostgres } from "../test/helpers/postgres.js";
import { type Running, start } from "../test/helpers/process.js";
import { humanLog, numberArg } from "./bench-util.js";
import { checkoutCommand } from "./bundle.js";

const args = process.argv.slice(2);
const log = humanLog(args);
const total = numberArg(args, "--results", 200_000);
const BATCH = numberArg(args, "--batch", 100);

/** A realistic aggregate result (about 260 bytes of JSON). */
function result(prefix: string, i: number) {
  const start = 1_796_000_000_000 + Math.floor(i / 1000) * 1000;
  return {
    kind: "agg",
    id: `${prefix}-${String(i).padStart(9, "0")}`,
    revision: 0,
    device: `pi-${String(i % 50).padStart(3, "0")}`,
    rule: "per-second",
    key: `device-${i % 1000}/temperature`,
    start,
    end: start + 1000,
    partial: false,
    aggregates: { count: 10, mean: 21.37 + (i % 7), min: 20.1, max: 23.9 },
  };
}

function batches(prefix: string): Incoming[][] {
  const out: Incoming[][] = [];
  for (let b = 0; b < total / BATCH; b++)
    out.push(
      Array.from({ length: BATCH }, (_, j) => {
        const r = result(prefix, b * BATCH + j);
        return { result: r, body: JSON.stringify(r) };
      }),
    );
  return out;
}

const db = await startPostgres();
const mosquitto = await startMosquitto(mkdtempSync(join(tmpdir(), "brook-bench-sink-")));
const client = new pg.Client({ connectionString: db.url });
await client.connect();
const figures: Record<string, number> = {};
const running: Running[] = [];
try {
  // The schema, made by the store.
  await (await PgStore.open({ url: db.url, sink: "setup" })).close();
  await client.query("CREATE TABLE plain (LIKE results INCLUDING ALL)");

  // Baseline: plain batched INSERTs of the same rows.
  {
    const work = batches("base");
    const t0 = performance.now();
    for (const batch of work) {
      await client.query("BEGIN");
      await client.query(insertRows("plain"), rowArrays(batch, Date.now()));
      await client.query("COMMIT");
    }
    figures.baseline = Math.round(total / ((performance.now() - t0) / 1000));
    log(`plain batched INSERT: ${figures.baseline} rows/s`);
  }

  // The store alone, 1–3 writers.
  for (const writers of [1, 2, 3]) {
    const work = batches(`store${writers}`);
    const stores = await Promise.all(
      Array.from({ length: writers }, (_, k) => PgStore.open({ url: db.url, sink: `w${k}` })),
    );
    const t0 = performance.now();
    await Promise.all(
      stores.map(async (store, k) => {
        for (let b = k; b < work.length; b += writers)
          await store.write(work[b] as Incoming[], { messages: 1 }, Date.now());
      }),
    );
    figures[`store${writers}`] = Math.round(total / ((performance.now() - t0) / 1000));
    for (const s of stores) await s.close();
    log(`PgStore.write, ${writers} writer(s): ${figures[`store${writers}`]} results/s`);
  }

  // The whole sink: brook cloud-sink processes behind mosquitto.
  const brook = await checkoutCommand();
  for (const sinks of [1, 2, 3]) {
    const group = `bench${sinks}`;
    const procs = Array.from({ length: sinks }, (_, k) =>
      start(brook[0], [
        ...brook[1],
        "cloud-sink",
        "--broker",
        mosquitto.url,
        "--db",
        db.url,
        "--group",
        group,
        "--client-id",
        `${group}-${k}`,
      ]),
    );
    running.push(...procs);
    for (const p of procs) await p.waitForLine(/cloud sink ready/, 30_000);
    const pub = await mqtt.connectAsync(mosquitto.url, { clientId: `bench-pub-${sinks}` });
    const work = batches(`sink${sinks}`).map((b) =>
      Buffer.from(`[${b.map((x) => x.body).join(",")}]`),
    );
    const t0 = performance.now();
    for (let i = 0; i < work.length; i += 200)
      await Promise.all(
        work
          .slice(i, i + 200)
          .map((payload) => pub.publishAsync("brook/pi-000/agg/per-second", payload, { qos: 1 })),
      );
    const prefix = `sink${sinks}-`;
    for (;;) {
      const r = await client.query<{ n: string }>(
        "SELECT count(*) AS n FROM results WHERE id >= $1 AND id < $2",
        [prefix, `sink${sinks}.`],
      );
      if (Number(r.rows[0]?.n) >= total) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    figures[`sink${sinks}`] = Math.round(total / ((performance.now() - t0) / 1000));
    await pub.endAsync();
    for (const p of procs) await p.stop();
    log(`brook cloud-sink ×${sinks} through mosquitto: ${figures[`sink${sinks}`]} results/s`);
  }
} finally {
  for (const p of running) await p.stop().catch(() => undefined);
  await client.end();
  await mosquitto.stop();
  await db.stop();
}

const ratio = (k: string) => Math.round(((figures[k] ?? 0) / (figures.baseline ?? 1)) * 100) / 100;
const report = {
  machine: { cores: cpus().length, model: cpus()[0]?.model ?? "unknown", loadavg: loadavg() },
  results: total,
  batch: BATCH,
  resultsPerSec: figures,
  ratiosToPlainInsert: {
    store1: ratio("store1"),
    store2: ratio("store2"),
    store3: ratio("store3"),
    sink1: ratio("sink1"),
    sink2: ratio("sink2"),
    sink3: ratio("sink3"),
  },
};
log(`ratios to the plain batched INSERT: ${JSON.stringify(report.ratiosToPlainInsert)}`);
if (args.includes("--json")) console.log(JSON.stringify(report));
