/**
 * The disk fills up under the agent (a 4 MiB tmpfs it has for its data, filled to the last
 * byte): it keeps running, holds input unacknowledged (the reading log cannot commit) and
 * says so in its status and a log line; once space returns it commits, and
 * every reading the sensor published is counted exactly once. A stop on a full disk with a
 * result the outbox held and could not write fails saying so, and the next start makes the
 * result again from the reading log. Needs to mount a tmpfs (root): skipped, saying why,
 * where that is not allowed.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import mqtt from "mqtt";
import { pino } from "pino";
import { parseConfig } from "../../agent/config/load.js";
import type { BrookError } from "../../agent/errors.js";
import { Agent } from "../../agent/runtime/agent.js";
import { outboxResults } from "../helpers/agent.js";
import { eventually, stopAfterAll } from "../helpers/process.js";

type Agg = { aggregates: { count: number }; partial: boolean };

const T0 = 1_700_000_000_000;

function mountTmpfs(dir: string): string | undefined {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs here (${(err as Error).message.split("\n")[0]})`;
  }
}

/** Writes zeros into `file` until the file system is full. */
function fill(file: string): void {
  const fd = openSync(file, "w");
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch {
    // ENOSPC: full; the last bytes too, a byte at a time
    try {
      for (;;) writeSync(fd, block, 0, 1);
    } catch {}
  } finally {
    closeSync(fd);
  }
}

describe("the disk fills up", () => {
  const stops = stopAfterAll();
  const dir = mkdtempSync(join(tmpdir(), "brook-diskfull-"));
  const skip = mountTmpfs(dir);

  it("holds input unacknowledged while nothing can be written, and loses nothing it acknowledged", {
    skip,
  }, async () => {
    stops.push(async () => execFileSync("umount", ["-l", dir]));
    writeFileSync(
      join(dir, "config.yaml"),
      "device: d\nedge: {embedded: {port: 0}}\nhttp: {enabled: false}\ndataDir: ./data\n",
    );
    const lines: string[] = [];
    const agent = await Agent.start(
      parseConfig(
        join(dir, "config.yaml"),
        "device: d\nedge: {embedded: {port: 0}}\nhttp: {enabled: false}\ndataDir: ./data\n",
      ),
      {
        logger: pino({ level: "warn" }, { write: (l: string) => lines.push(l) }),
      },
    );
    stops.push(() => agent.stop(0).catch(() => undefined));
    const sensor = await mqtt.connectAsync(agent.edgeUrl);
    stops.push(() => sensor.endAsync(true));
    await sensor.publishAsync("sensors/p/t", `{"ts": ${T0}, "value": 1}`, { qos: 1 });
    fill(join(dir, "filler"));
    // 20 more readings (1 KB each: more than the file system's last free page): those that do
    // not fit cannot be committed, and are not acknowledged.
    let acked = 0;
    const pad = "x".repeat(1_000);
    const published = Array.from({ length: 20 }, (_, i) =>
      sensor
        .publishAsync("sensors/p/t", `{"ts": ${T0 + 1 + i}, "value": ${i + 2}, "pad": "${pad}"}`, {
          qos: 1,
        })
        .then(() => acked++),
    );
    await eventually(
      () => ((agent.status().readingLog?.commitFailures ?? 0) > 0 ? true : undefined),
      10_000,
      "a failed commit",
    );
    strictEqual(agent.status().readingLog?.accepting, false);
    ok(acked < 20, `${acked} of 20 acknowledged with the disk full`);
    ok(
      lines.some((l) => l.includes("reading log commit failed")),
      lines.join("\n"),
    );
    // Space comes back: the held readings are committed, acknowledged and counted once.
    rmSync(join(dir, "filler"));
    await Promise.all(published);
    await sensor.publishAsync("sensors/p/t", `{"ts": ${T0 + 120_000}, "value": 0}`, { qos: 1 });
    strictEqual(agent.status().counters.readings, 22);
    await agent.stop(0);
    deepStrictEqual(
      outboxResults<Agg>(dir).map((r) => [r.aggregates.count, r.partial]),
      [[21, false]],
    );
  });

  it("a result the outbox held in memory and could not write at a stop: the stop fails saying so, and the next start makes it again from the reading log", {
    skip,
  }, async () => {
    const here = mkdtempSync(join(tmpdir(), "brook-diskfull-stop-"));
    const why = mountTmpfs(here);
    if (why !== undefined) throw new Error(why);
    stops.push(async () => execFileSync("umount", ["-l", here]));
    const yaml =
      "device: d\nedge: {embedded: {port: 0}}\nhttp: {enabled: false}\ndataDir: ./data\n";
    const start = () =>
      Agent.start(parseConfig(join(here, "config.yaml"), yaml), {
        logger: pino({ level: "silent" }),
      });
    writeFileSync(join(here, "config.yaml"), yaml);
    const agent = await start();
    const sensor = await mqtt.connectAsync(agent.edgeUrl);
    // Two readings two minutes apart: the first one's window closes, its result is held.
    await sensor.publishAsync("sensors/p/t", `{"ts": ${T0}, "value": 1}`, { qos: 1 });
    await sensor.publishAsync("sensors/p/t", `{"ts": ${T0 + 120_000}, "value": 2}`, { qos: 1 });
    await sensor.endAsync(true);
    // No uplink: the outbox writes it at the second tick after it came, at the soonest 1 s on.
    await eventually(
      () => (agent.status().outboxDepth === 1 ? true : undefined),
      5_000,
      "the result",
    );
    fill(join(here, "filler"));
    const stopped = await agent.stop(0).then(
      () => undefined,
      (err: unknown) => err,
    );
    strictEqual((stopped as BrookError | undefined)?.code, "BROOK_ERR_OUTBOX_UNWRITABLE");
    ok(/reading log is replayed/.test((stopped as Error).message), (stopped as Error).message);
    rmSync(join(here, "filler"));
    const again = await start();
    await again.stop(0);
    deepStrictEqual(
      outboxResults<Agg>(here).map((r) => [r.aggregates.count, r.partial]),
      [[1, false]],
    );
  });
});
