/**
 * `brook selftest`: the whole slice in-process on loopback, in a few hundred milliseconds —
 * the embedded broker takes three readings, a count window aggregates them, the result goes
 * through the SQLite outbox to a second in-process broker standing in for the cloud, and
 * the outbox is empty once that broker has acknowledged it. Prints versions and arch first,
 * then each step; false if one fails. What a device runs after flashing.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sea from "node:sea";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { sqliteAddonSource, sqliteOptions } from "../cloud-sync/sqlite-native.js";
import { parseConfig } from "./config/load.js";
import { Agent } from "./runtime/agent.js";
import { type EmbeddedBroker, startEmbeddedBroker } from "./runtime/broker.js";
import { createLogger } from "./runtime/log.js";
import { type Stop, stopAll } from "./runtime/stop-all.js";
import { VERSION } from "./version.js";

const TIMEOUT_MS = 10_000;

async function within<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer in ${TIMEOUT_MS} ms`)),
      TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function runSelftest(print: (line: string) => void): Promise<boolean> {
  const started = performance.now();
  const step = (what: string) =>
    print(`ok   ${what} (${Math.round(performance.now() - started)} ms)`);
  const stops: Stop[] = [];
  const dir = mkdtempSync(join(tmpdir(), "brook-selftest-"));
  stops.push(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const memory = new Database(":memory:", sqliteOptions());
    const sqlite = (memory.prepare("select sqlite_version() as v").get() as { v: string }).v;
    memory.close();
    print(
      `brook ${VERSION}, node ${process.version}, ${process.platform}/${process.arch}, SQLite ${sqlite}, ${sea.isSea() ? "single binary" : "from a checkout"}; SQLite addon: ${sqliteAddonSource()}`,
    );
    step("SQLite opens");

    const cloud: EmbeddedBroker = await startEmbeddedBroker("127.0.0.1", 0, "cloud");
    stops.push(() => cloud.close());
    const watcher = await mqtt.connectAsync(cloud.url, { clientId: "brook-selftest-cloud" });
    stops.push(() => watcher.endAsync(true));
    // Results travel in batches: a message is one result or an array of them.
    const arrived = new Promise<Record<string, unknown>>((resolve) =>
      watcher.on("message", (_topic, payload) => {
        const parsed = JSON.parse(payload.toString()) as unknown;
        for (const r of Array.isArray(parsed) ? parsed : [parsed]) resolve(r);
      }),
    );
    await watcher.subscribeAsync("brook/selftest/agg/#", { qos: 1 });
    step(`cloud broker on ${cloud.url}`);

    writeFileSync(
      join(dir, "rules.yaml"),
      "rules:\n  - name: three\n    window: { type: count, n: 3, every: 3 }\n    aggregates: [count, mean]\n",
    );
    const config = parseConfig(
      join(dir, "config.yaml"),
      [
        "device: selftest",
        "edge: { embedded: { host: 127.0.0.1, port: 0 } }",
        "rules: rules.yaml",
        `dataDir: ${JSON.stringify(join(dir, "data"))}`,
        `uplink: { url: ${JSON.stringify(cloud.url)}, clientId: brook-selftest, protocol: "3.1.1" }`,
        "http: { enabled: false }",
        "",
      ].join("\n"),
    );
    const agent = await within(
      "agent start",
      Agent.start(config, { logger: createLogger("silent") }),
    );
    stops.push(() => agent.stop(1_000));
    step(`agent with its embedded broker on ${agent.edgeUrl} and its outbox in ${dir}`);

    const sensor = await mqtt.connectAsync(agent.edgeUrl, { clientId: "brook-selftest-sensor" });
    stops.push(() => sensor.endAsync(true));
    const t0 = Date.now() - 3_000;
    for (const [i, value] of [1, 2, 6].entries())
      await sensor.publishAsync("sensors/probe/t", JSON.stringify({ ts: t0 + i * 1_000, value }), {
        qos: 1,
      });
    step("3 readings published");

    const result = await within("the window's result at the cloud broker", arrived);
    const aggregates = result.aggregates as { count?: number; mean?: number } | undefined;
    if (aggregates?.count !== 3 || aggregates.mean !== 3)
      throw new Error(`unexpected result: ${JSON.stringify(result)}`);
    step("count window closed: count 3, mean 3, delivered through the outbox to the cloud broker");

    await within(
      "the outbox to empty",
      (async () => {
        while (agent.status().outboxDepth > 0) await new Promise((r) => setTimeout(r, 10));
      })(),
    );
    step("outbox empty after the cloud broker's PUBACK");
    print(`selftest passed in ${Math.round(performance.now() - started)} ms`);
    return true;
  } catch (err) {
    print(`FAIL ${(err as Error).message}`);
    return false;
  } finally {
    // The verdict is given; a part that fails to stop does not change it.
    await stopAll(stops).catch(() => undefined);
  }
}
