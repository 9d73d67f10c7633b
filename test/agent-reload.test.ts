/**
 * Hot reload of the rules file: a valid new file is swapped in keeping the state of
 * unchanged rules and flushing removed ones; an invalid one is rejected and the old rules
 * keep running. Readings go through the agent's embedded broker; results stay in its
 * outbox (no uplink), where the test reads them.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { startAgentWithRules } from "./helpers/agent.js";
import { eventually, stopAfterAll } from "./helpers/process.js";

const T0 = 1_699_999_200_000; // a whole hour
const RULES_A_B =
  "rules:\n  - { name: keep, window: { type: tumbling, size: 1m }, aggregates: [count] }\n  - { name: drop, window: { type: tumbling, size: 1m }, aggregates: [count] }\n";
const RULES_A_C =
  "rules:\n  - { name: keep, window: { type: tumbling, size: 1m }, aggregates: [count] }\n  - { name: added, window: { type: tumbling, size: 1m }, aggregates: [count] }\n";

interface Result {
  rule: string;
  start: number;
  partial: boolean;
  aggregates: { count: number };
}

describe("rules hot reload", () => {
  const cleanups = stopAfterAll();

  it("keeps unchanged rules' windows, flushes removed rules, and rejects an invalid file keeping the old rules", async () => {
    // The watcher is off first, so each reload below is exactly the one the test asks for.
    const { agent, rulesFile, outboxResults } = await startAgentWithRules("reload", RULES_A_B, {
      watchRules: false,
    });
    cleanups.push(() => agent.stop(0));
    const client: MqttClient = await mqtt.connectAsync(agent.edgeUrl);
    cleanups.push(() => client.endAsync());
    let sent = 0;
    const publish = async (offsets: number[]) => {
      for (const o of offsets)
        await client.publishAsync("sensors/p/t", JSON.stringify({ ts: T0 + o, value: 1 }), {
          qos: 1,
        });
      sent += offsets.length;
      await eventually(
        () => (agent.status().counters.readings === sent ? true : undefined),
        5_000,
        "the readings to reach the engine",
      );
    };
    const results = (): Result[] => {
      return outboxResults<Result>().map((r) => ({
        rule: r.rule,
        start: r.start - T0,
        partial: r.partial,
        aggregates: r.aggregates,
      }));
    };

    await publish([1_000, 2_000, 3_000]); // both rules hold an open window of 3 readings

    // valid → valid: `keep` keeps its window, `drop` flushes it (partial), `added` starts empty.
    writeFileSync(rulesFile, RULES_A_C);
    deepStrictEqual(agent.reloadRules(), { ok: true, problems: [] });
    deepStrictEqual(results(), [
      { rule: "drop", start: 0, partial: true, aggregates: { count: 3 } },
    ]);
    await publish([4_000, 60_000]); // closes keep's first window, with all 4 readings
    await eventually(
      () => (results().length >= 3 ? true : undefined),
      5_000,
      "the closed windows in the outbox",
    );
    deepStrictEqual(results(), [
      { rule: "drop", start: 0, partial: true, aggregates: { count: 3 } },
      { rule: "keep", start: 0, partial: false, aggregates: { count: 4 } },
      { rule: "added", start: 0, partial: false, aggregates: { count: 1 } },
    ]);

    // valid → invalid: rejected, the rules in force stay.
    writeFileSync(
      rulesFile,
      "rules:\n  - name: keep\n    window: { type: tumbling, size: 1 minute }\n",
    );
    const rejected = agent.reloadRules();
    strictEqual(rejected.ok, false);
    match(
      rejected.problems[0] as string,
      /rules\.yaml:3:37: rules\.0\.window\.size: must be a duration/,
    );
    strictEqual(agent.status().counters.reloadsRejected, 1);
    await publish([61_000]);
    ok(agent.status().openWindows >= 2, "keep and added still run");

    strictEqual(agent.status().counters.reloads, 1);
  });

  it("reloads by itself when the rules file changes on disk", async () => {
    const { agent, rulesFile } = await startAgentWithRules("reload-watch", RULES_A_B);
    cleanups.push(() => agent.stop(0));
    writeFileSync(rulesFile, RULES_A_C);
    await eventually(
      () => (agent.status().counters.reloads >= 1 ? true : undefined),
      10_000,
      "the watcher to reload the file",
    );
  });
});
