/**
 * The foundation's vertical slice with real peers: readings published by `mosquitto_pub`
 * into the agent's edge broker, aggregated, kept in the SQLite outbox, sent to a real
 * `mosquitto` standing in for the cloud, and upserted there by `brook cloud-sink`. The
 * agent is restarted half-way, with windows open, and they resume.
 */
import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { startMosquitto } from "../helpers/mosquitto.js";
import { brook, eventually, type Running, start, stopAfterAll } from "../helpers/process.js";

const T0 = 1_700_000_000_000; // aligned to 10 s
const DEVICE = "e2e-pi";
const RULE = "ten-seconds";
const lines = (readings: object[]) => readings.map((r) => JSON.stringify(r));

/** Per topic, the payload lines in publish order, before the restart. */
const FIRST_RUN: Record<string, string[]> = {
  "sensors/pump-1/temp": lines([
    { ts: T0 + 5_000, value: 2 },
    { ts: T0 + 9_999, value: 3 },
    { ts: T0, value: 1 }, // out of order within its window
    { ts: T0 + 10_000, value: 10 }, // exactly on the edge: opens the next window, closes the first
    { ts: T0 + 1_000, value: 99 }, // its window has fired: late, counted, sent on the late output
    { ts: T0 + 15_000, value: 20 },
    { ts: T0 + 20_000, value: 5 },
    { ts: T0 + 30_000, value: 7 }, // closes [20 s, 30 s); its own window stays open across the restart
  ]),
  "sensors/pump-2/pressure": [
    ...lines([
      { ts: T0 + 1_000, value: 1.5 },
      { ts: T0 + 2_000, value: 2.5 },
      { ts: T0 + 12_000, value: 4 }, // stays open across the restart
    ]),
    "this is not json",
    '{"ts": 1, "value": "high"}',
  ],
};

/** After the restart: completes the windows left open. */
const SECOND_RUN: Record<string, string[]> = {
  "sensors/pump-1/temp": lines([
    { ts: T0 + 35_000, value: 9 },
    { ts: T0 + 40_000, value: 1 },
  ]),
  "sensors/pump-2/pressure": lines([{ ts: T0 + 20_000, value: 0 }]),
};

interface Row {
  id: string;
  revision: number;
  key: string;
  window_start: number;
  window_end: number;
  partial: number;
  aggregates: string;
}

function expected(key: string, offset: number, aggregates: object): Row {
  const start = T0 + offset;
  return {
    id: createHash("sha256")
      .update(`${DEVICE}\u0000${RULE}\u0000${key}\u0000${start}`)
      .digest("hex")
      .slice(0, 32),
    revision: 0,
    key,
    window_start: start,
    window_end: start + 10_000,
    partial: 0,
    aggregates: JSON.stringify(aggregates),
  };
}

const AFTER_FIRST_RUN = [
  expected("pump-1/temp", 0, { count: 3, mean: 2, min: 1, max: 3 }),
  expected("pump-1/temp", 10_000, { count: 2, mean: 15, min: 10, max: 20 }),
  expected("pump-1/temp", 20_000, { count: 1, mean: 5, min: 5, max: 5 }),
  expected("pump-2/pressure", 0, { count: 2, mean: 2, min: 1.5, max: 2.5 }),
];
const AFTER_SECOND_RUN = [
  ...AFTER_FIRST_RUN.slice(0, 3),
  // one value from before the restart, one from after: the window resumed
  expected("pump-1/temp", 30_000, { count: 2, mean: 8, min: 7, max: 9 }),
  AFTER_FIRST_RUN[3] as Row,
  expected("pump-2/pressure", 10_000, { count: 1, mean: 4, min: 4, max: 4 }),
];

async function publish(port: string, topics: Record<string, string[]>): Promise<void> {
  for (const [topic, payloads] of Object.entries(topics)) {
    const pub = start(
      "mosquitto_pub",
      ["-h", "127.0.0.1", "-p", port, "-q", "1", "-t", topic, "-l"],
      {
        stdin: `${payloads.join("\n")}\n`,
      },
    );
    strictEqual(await pub.exited(), 0, pub.output());
  }
}

describe("end to end: mosquitto_pub → agent → SQLite outbox → mosquitto → brook cloud-sink", () => {
  const cleanups = stopAfterAll();

  for (const edgeMode of ["embedded", "external"] as const) {
    it(`delivers exactly the expected aggregates, by id, across an agent restart (${edgeMode} edge broker)`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `brook-e2e-${edgeMode}-`));
      const cloud = await startMosquitto(dir);
      cleanups.push(() => cloud.stop());
      let edgeConfig = "  embedded: { host: 127.0.0.1, port: 0 }";
      if (edgeMode === "external") {
        const edge = await startMosquitto(dir);
        cleanups.push(() => edge.stop());
        edgeConfig = `  url: ${edge.url}`;
      }
      const cloudDb = join(dir, "cloud.db");
      const sink: Running = brook(["cloud-sink", "--broker", cloud.url, "--db", cloudDb]);
      cleanups.push(() => sink.stop());
      await sink.waitForLine(/cloud sink ready/);

      writeFileSync(
        join(dir, "rules.yaml"),
        `rules:\n  - name: ${RULE}\n    window: { type: tumbling, size: 10s }\n`,
      );
      const config = join(dir, "config.yaml");
      writeFileSync(
        config,
        [
          `device: ${DEVICE}`,
          "edge:",
          edgeConfig,
          "rules: rules.yaml",
          "dataDir: ./agent-data",
          "uplink:",
          `  url: ${cloud.url}`,
          "http: { port: 0 }",
          "",
        ].join("\n"),
      );
      const startAgent = async () => {
        const agent = brook(["agent", "--config", config]);
        cleanups.push(() => agent.stop());
        await agent.waitForLine(/subscribed at the edge broker/);
        const ready = JSON.parse(await agent.waitForLine(/agent ready/)) as {
          edge: string;
          http: number;
        };
        return { agent, edgePort: new URL(ready.edge).port, http: ready.http };
      };

      const db = new Database(cloudDb, { readonly: true, fileMustExist: true });
      const aggRows = () =>
        db
          .prepare(
            "SELECT id, revision, key, window_start, window_end, partial, json_extract(body, '$.aggregates') AS aggregates FROM results WHERE kind = 'agg' ORDER BY key, window_start",
          )
          .all() as Row[];
      const waitForRows = (n: number, what: string) =>
        eventually(() => (aggRows().length >= n ? true : undefined), 10_000, what);

      const first = await startAgent();
      await publish(first.edgePort, FIRST_RUN);
      await waitForRows(AFTER_FIRST_RUN.length, "the closed windows in the cloud db");
      const metrics = await (await fetch(`http://127.0.0.1:${first.http}/metrics`)).text();
      match(metrics, /brook_dead_letters_total\{reason="bad_payload"\} 1/);
      match(metrics, /brook_dead_letters_total\{reason="bad_value"\} 1/);
      match(metrics, /brook_late_readings_total 1/);
      match(metrics, /brook_readings_total 11/);
      match(first.agent.output(), /dead letter: message not decodable/);
      strictEqual(await first.agent.stop(), 0, first.agent.output());
      match(first.agent.output(), /agent stopped/);
      // Open windows were checkpointed, not emitted: the cloud has exactly the closed ones.
      deepStrictEqual(aggRows(), AFTER_FIRST_RUN);

      const second = await startAgent();
      match(second.agent.output(), /engine state restored/);
      await publish(second.edgePort, SECOND_RUN);
      await waitForRows(AFTER_SECOND_RUN.length, "the resumed windows in the cloud db");
      strictEqual(await second.agent.stop(), 0, second.agent.output());
      deepStrictEqual(aggRows(), AFTER_SECOND_RUN);

      // The late reading is kept at the cloud too, once.
      const late = db
        .prepare(
          "SELECT json_extract(body, '$.reading') AS reading FROM results WHERE kind = 'late'",
        )
        .all();
      deepStrictEqual(late, [
        { reading: JSON.stringify({ sensor: "pump-1/temp", ts: T0 + 1_000, value: 99 }) },
      ]);
      db.close();
      strictEqual(await sink.stop(), 0, sink.output());

      // What the tools report afterwards: an empty outbox, and the sink's counters.
      const outboxStats = brook(["outbox", "stats", "--config", config, "--json"]);
      strictEqual(await outboxStats.exited(), 0, outboxStats.output());
      const o = JSON.parse(outboxStats.output().trim().split("\n").at(-1) as string) as {
        depth: number;
        drops: object;
      };
      deepStrictEqual([o.depth, o.drops], [0, { bulk: 0, aggregate: 0, alert: 0 }]);
      const sinkStats = brook(["cloud-sink", "--stats", "--db", cloudDb]);
      strictEqual(await sinkStats.exited(), 0, sinkStats.output());
      const st = JSON.parse(sinkStats.output().trim().split("\n").at(-1) as string) as {
        rows: Record<string, number>;
        counters: Record<string, number>;
      };
      deepStrictEqual(st.rows, { agg: AFTER_SECOND_RUN.length, late: 1 });
      strictEqual(st.counters.inserted, AFTER_SECOND_RUN.length + 1);
    });
  }
});
