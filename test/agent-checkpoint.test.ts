/**
 * The agent checkpoints engine state periodically (on its injected clock), so a crash loses
 * at most one interval: the state file holds the open windows without any shutdown.
 */
import { deepStrictEqual, match, ok, rejects, strictEqual } from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import mqtt from "mqtt";
import { compileRule } from "../agent/compile/compile.js";
import { parseConfig } from "../agent/config/load.js";
import { Engine } from "../agent/engine/engine.js";
import { Agent } from "../agent/runtime/agent.js";
import { StateStore } from "../agent/runtime/checkpoint.js";
import { createLogger } from "../agent/runtime/log.js";
import { VirtualClock } from "../lib/clock.js";
import { outboxResults } from "./helpers/agent.js";
import { brook, eventually, freePort, stopAfterAll } from "./helpers/process.js";

const T0 = 1_700_000_000_000;

describe("agent checkpoints", () => {
  it("writes engine state every checkpoint interval of its clock, restorable after a crash", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-checkpoint-"));
    const config = parseConfig(
      join(dir, "config.yaml"),
      "device: d\nedge: {embedded: {port: 0}}\nhttp: {enabled: false}\nstate: {checkpointInterval: 30s}\n",
    );
    const clock = new VirtualClock(T0);
    const agent = await Agent.start(config, { clock, logger: createLogger("silent") });
    const client = await mqtt.connectAsync(agent.edgeUrl);
    for (let i = 0; i < 5; i++)
      await client.publishAsync(
        `sensors/pump-${i}/temp`,
        JSON.stringify({ ts: T0 + i, value: i }),
        { qos: 1 },
      );
    await eventually(
      () => (agent.status().counters.readings === 5 ? true : undefined),
      5_000,
      "the readings to reach the engine",
    );
    strictEqual(agent.status().counters.checkpoints, 0);

    clock.advance(30_000);
    strictEqual(agent.status().counters.checkpoints, 1);
    // Read the file as a restart after a crash would, while the agent still runs.
    const store = new StateStore(join(dir, "data", "state.db"));
    const saved = store.load();
    store.close();
    ok(saved !== undefined);
    const restored = new Engine({
      device: "d",
      rules: [compileRule({ name: "default", window: { type: "tumbling" } })],
    });
    restored.restore(saved.checkpoint.engine, []);
    strictEqual(restored.openWindows(), 5);

    await client.endAsync();
    await agent.stop(0);
  });

  it("a start that fails (the edge port is taken) is a clear error and keeps the checkpoint: the next start resumes its windows", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-checkpoint-"));
    const config = (port: number) =>
      parseConfig(
        join(dir, "config.yaml"),
        `device: d\nedge: {embedded: {port: ${port}}}\nhttp: {enabled: false}\n`,
      );
    const first = await Agent.start(config(0), { logger: createLogger("silent") });
    const client = await mqtt.connectAsync(first.edgeUrl);
    for (let i = 0; i < 3; i++)
      await client.publishAsync(`sensors/pump-${i}/temp`, JSON.stringify({ value: i }), { qos: 1 });
    await client.endAsync();
    await first.stop(0);

    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as AddressInfo).port;
    await rejects(Agent.start(config(port), { logger: createLogger("silent") }), {
      code: "BROOK_ERR_PORT_IN_USE",
      message: new RegExp(`cannot listen on 127.0.0.1:${port}: the port is already in use`),
    });
    await new Promise((resolve) => taken.close(resolve));

    const again = await Agent.start(config(0), { logger: createLogger("silent") });
    strictEqual(again.status().openWindows, 3);
    await again.stop(0);
  });
});

describe("corrupt files at start", () => {
  const stops = stopAfterAll();

  it("a corrupt outbox and checkpoint are moved aside, fresh ones started, and that said loudly; the log's readings come back partial", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-corrupt-"));
    const port = await freePort();
    writeFileSync(
      join(dir, "config.yaml"),
      `device: d\nedge: {embedded: {port: ${port}}}\nhttp: {enabled: false}\nstate: {checkpointInterval: 1s}\n`,
    );
    const agent = () => {
      const a = brook(["agent", "--config", join(dir, "config.yaml")]);
      stops.push(() => a.stop("SIGKILL"));
      return a;
    };
    const first = agent();
    await first.waitForLine(/agent ready/);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
    for (let i = 0; i < 3; i++)
      await client.publishAsync("sensors/p/t", `{"ts": ${T0 + i}, "value": ${i}}`, { qos: 1 });
    // A checkpoint takes the three into state.db, and truncates the log behind it...
    await eventually(
      () =>
        readdirSync(join(dir, "data", "log")).some((f) => !f.startsWith("000000000000000001"))
          ? true
          : undefined,
      10_000,
      "a checkpoint",
    );
    await new Promise((r) => setTimeout(r, 1_500));
    // ...and two more readings are in the log only when the agent crashes.
    for (let i = 3; i < 5; i++)
      await client.publishAsync("sensors/p/t", `{"ts": ${T0 + i}, "value": ${i}}`, { qos: 1 });
    await client.endAsync();
    await first.stop("SIGKILL");
    // Both SQLite files damaged (their write-ahead logs gone with them).
    for (const f of ["outbox.db", "state.db"]) {
      writeFileSync(join(dir, "data", f), `this is not a database: ${f}`);
      rmSync(join(dir, "data", `${f}-wal`), { force: true });
      rmSync(join(dir, "data", `${f}-shm`), { force: true });
    }
    const second = agent();
    await second.waitForLine(/agent ready/);
    const moved = readdirSync(join(dir, "data")).filter(
      (f) => f.includes(".corrupt-") && !f.endsWith("-wal") && !f.endsWith("-shm"),
    );
    deepStrictEqual(moved.length, 2);
    match(second.output(), /the outbox is corrupt: moved aside/);
    match(second.output(), /the checkpoint is corrupt: moved aside/);
    match(second.output(), /replayed without its checkpoint/);
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
    await c.publishAsync("sensors/p/t", `{"ts": ${T0 + 120_000}, "value": 9}`, { qos: 1 });
    await c.endAsync();
    strictEqual(await second.stop(), 0);
    const results = outboxResults<{ aggregates: { count: number }; partial: boolean }>(dir);
    // The checkpoint's three readings are lost with it; the window the log brought back holds
    // the two after it, and says it may lack others.
    deepStrictEqual(
      results.map((r) => [r.aggregates.count, r.partial]),
      [[2, true]],
    );
  });
});
