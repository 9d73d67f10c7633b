/**
 * The agent checkpoints engine state periodically (on its injected clock), so a crash loses
 * at most one interval: the state file holds the open windows without any shutdown.
 */
import { ok, strictEqual } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import mqtt from "mqtt";
import { VirtualClock } from "../agent/clock.js";
import { parseConfig } from "../agent/config/load.js";
import { Engine } from "../agent/engine/engine.js";
import { Agent } from "../agent/runtime/agent.js";
import { createLogger } from "../agent/runtime/log.js";
import { StateStore } from "../agent/runtime/state-store.js";
import { compileRule } from "../rules/load.js";
import { eventually } from "./helpers/process.js";

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
    restored.restore(saved.snapshot, []);
    strictEqual(restored.openWindows(), 5);

    await client.endAsync();
    await agent.stop(0);
  });
});
