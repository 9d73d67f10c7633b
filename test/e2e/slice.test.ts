/**
 * The foundation's vertical slice with real peers: readings published by `mosquitto_pub`
 * into the agent's embedded broker, aggregated, kept in the SQLite outbox, sent to a real
 * `mosquitto` standing in for the cloud, and upserted there by `brook cloud-sink`.
 */
import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { brook, eventually, type Running, start } from "../helpers/process.js";

const T0 = 1_700_000_000_000; // aligned to 10 s
const DEVICE = "e2e-pi";
const RULE = "ten-seconds";

/** Per sensor, the payload lines in publish order. */
const PUBLISHED: Record<string, string[]> = {
  "sensors/pump-1/temp": [
    { ts: T0 + 5_000, value: 2 },
    { ts: T0 + 9_999, value: 3 },
    { ts: T0, value: 1 }, // out of order within its window
    { ts: T0 + 10_000, value: 10 }, // exactly on the edge: opens the next window, closes the first
    { ts: T0 + 1_000, value: 99 }, // its window has fired: late, counted, not in the aggregate
    { ts: T0 + 15_000, value: 20 },
    { ts: T0 + 20_000, value: 5 },
    { ts: T0 + 30_000, value: 7 }, // closes [20 s, 30 s); its own window is flushed partial on shutdown
  ].map((r) => JSON.stringify(r)),
  "sensors/pump-2/pressure": [
    { ts: T0 + 1_000, value: 1.5 },
    { ts: T0 + 2_000, value: 2.5 },
    { ts: T0 + 12_000, value: 4 },
  ]
    .map((r) => JSON.stringify(r))
    .concat(["this is not json", '{"ts": 1, "value": "high"}']),
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

function expected(key: string, offset: number, aggregates: object, partial = false) {
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
    partial: partial ? 1 : 0,
    aggregates: JSON.stringify(aggregates),
  };
}

const EXPECTED = [
  expected("pump-1/temp", 0, { count: 3, mean: 2, min: 1, max: 3 }),
  expected("pump-1/temp", 10_000, { count: 2, mean: 15, min: 10, max: 20 }),
  expected("pump-1/temp", 20_000, { count: 1, mean: 5, min: 5, max: 5 }),
  expected("pump-1/temp", 30_000, { count: 1, mean: 7, min: 7, max: 7 }, true),
  expected("pump-2/pressure", 0, { count: 2, mean: 2, min: 1.5, max: 2.5 }),
  expected("pump-2/pressure", 10_000, { count: 1, mean: 4, min: 4, max: 4 }, true),
];

describe("end to end: mosquitto_pub → agent → SQLite outbox → mosquitto → brook cloud-sink", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  for (const edgeMode of ["embedded", "external"] as const) {
    it(`delivers exactly the expected aggregates, by id, to the cloud sink (${edgeMode} edge broker)`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `brook-e2e-${edgeMode}-`));
      const cloud: Mosquitto = await startMosquitto(dir);
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
      writeFileSync(
        join(dir, "config.yaml"),
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
      const agent = brook(["agent", "--config", join(dir, "config.yaml")]);
      cleanups.push(() => agent.stop());
      const ready = JSON.parse(await agent.waitForLine(/agent ready/)) as {
        edge: string;
        http: number;
      };
      const edgePort = new URL(ready.edge).port;

      for (const [topic, lines] of Object.entries(PUBLISHED)) {
        const pub = start(
          "mosquitto_pub",
          ["-h", "127.0.0.1", "-p", edgePort, "-q", "1", "-t", topic, "-l"],
          {
            stdin: `${lines.join("\n")}\n`,
          },
        );
        strictEqual(await pub.exited(), 0, pub.output());
      }

      const db = new Database(cloudDb, { readonly: true, fileMustExist: true });
      const rows = () =>
        db
          .prepare(
            "SELECT id, revision, key, window_start, window_end, partial, json_extract(body, '$.aggregates') AS aggregates FROM results ORDER BY key, window_start",
          )
          .all() as Row[];
      // The closed windows reach the cloud while the agent runs...
      await eventually(
        () => (rows().length >= 4 ? true : undefined),
        10_000,
        "the closed windows in the cloud db",
      );

      const metrics = await (await fetch(`http://127.0.0.1:${ready.http}/metrics`)).text();
      match(metrics, /brook_dead_letters_total\{reason="bad_json"\} 1/);
      match(metrics, /brook_dead_letters_total\{reason="bad_value"\} 1/);
      match(metrics, /brook_late_readings_total 1/);
      match(metrics, /brook_readings_total 11/);
      match(agent.output(), /dead letter: message not decodable/);

      // ...and the open ones are flushed, marked partial, when it stops.
      strictEqual(await agent.stop(), 0, agent.output());
      match(agent.output(), /agent stopped/);
      await eventually(
        () => (rows().length >= EXPECTED.length ? true : undefined),
        10_000,
        "the partial windows in the cloud db",
      );
      deepStrictEqual(rows(), EXPECTED);
      db.close();
      strictEqual(await sink.stop(), 0, sink.output());
    });
  }
});
