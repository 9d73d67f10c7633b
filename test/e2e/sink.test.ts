/** `brook cloud-sink` with a real mosquitto: shared subscriptions split the load between sinks. */
import { deepStrictEqual, ok } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { brook, eventually, type Running, stopAfterAll } from "../helpers/process.js";

const ids = (file: string): string[] => {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare("SELECT id FROM results").all() as { id: string }[];
  db.close();
  return rows.map((r) => r.id);
};

describe("brook cloud-sink", () => {
  const cleanups = stopAfterAll();

  it("shares the load between sinks of one --group, each result stored once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-sinks-"));
    const cloud: Mosquitto = await startMosquitto(dir);
    cleanups.push(() => cloud.stop());
    const sinks: Running[] = ["a", "b"].map((name) => {
      const sink = brook([
        "cloud-sink",
        "--broker",
        cloud.url,
        "--db",
        join(dir, `${name}.db`),
        "--group",
        "sinks",
        "--client-id",
        `sink-${name}`,
      ]);
      cleanups.push(() => sink.stop());
      return sink;
    });
    for (const sink of sinks) await sink.waitForLine(/cloud sink ready/);
    const client = await mqtt.connectAsync(cloud.url, { protocolVersion: 5 });
    const sent: string[] = [];
    for (let m = 0; m < 40; m++) {
      const batch = Array.from({ length: 5 }, (_, i) => ({
        kind: "agg",
        id: `r${m * 5 + i}`,
        revision: 0,
        rule: "x",
        key: "k",
        start: m,
        end: m + 1,
      }));
      sent.push(...batch.map((r) => r.id));
      await client.publishAsync(`brook/dev-${m % 4}/agg/x`, JSON.stringify(batch), { qos: 1 });
    }
    await client.endAsync();
    const stored = await eventually(
      () => {
        const a = ids(join(dir, "a.db"));
        const b = ids(join(dir, "b.db"));
        return a.length + b.length >= sent.length ? { a, b } : undefined;
      },
      10_000,
      "every result in one of the sinks",
    );
    deepStrictEqual([...stored.a, ...stored.b].sort(), [...sent].sort());
    ok(stored.a.length > 0 && stored.b.length > 0, `split ${stored.a.length}/${stored.b.length}`);
  });
});
