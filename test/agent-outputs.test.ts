/**
 * Rule outputs: results published on the edge broker at a topic template, forwarded
 * upstream at a chosen priority, or both. Results stay in the outbox (no uplink), where
 * the test reads them; local results are read by a subscriber at the embedded broker.
 */
import { deepStrictEqual } from "node:assert/strict";
import { after, describe, it } from "node:test";
import mqtt from "mqtt";
import { Priority } from "../cloud-sync/outbox.js";
import { startAgentWithRules } from "./helpers/agent.js";
import { eventually } from "./helpers/process.js";

const RULES = `sources:
  - { name: plant, topic: plant/+/temp, format: number, sensor: "{1}" }
rules:
  - name: local-only
    window: { type: count, n: 1 }
    aggregates: [last]
    outputs: { local: "site/{device}/{rule}/{key}/{kind}", upstream: false }
  - name: both
    window: { type: count, n: 2, every: 2 }
    aggregates: [count, last]
    detectors: [{ type: flatline, samples: 2 }]
    outputs: { local: "alerts/{key}", priority: bulk }
  - name: upstream-only
    window: { type: count, n: 2, every: 2 }
    aggregates: [count]
`;

interface Result {
  kind: string;
  rule: string;
  key: string;
  aggregates?: Record<string, number>;
  detector?: string;
}

describe("rule outputs", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it("publish on the edge broker by template, forward upstream at the rule's priority, or both", async () => {
    const { agent, outboxRecords } = await startAgentWithRules("outputs", RULES, {
      watchRules: false,
    });
    cleanups.push(() => agent.stop(0));
    const local: [string, Result][] = [];
    const sub = await mqtt.connectAsync(agent.edgeUrl);
    cleanups.push(() => sub.endAsync());
    sub.on("message", (topic, payload) => {
      local.push([topic, JSON.parse(payload.toString()) as Result]);
    });
    await sub.subscribeAsync(["site/#", "alerts/#"], { qos: 1 });
    const pub = await mqtt.connectAsync(agent.edgeUrl);
    cleanups.push(() => pub.endAsync());
    for (const value of ["20", "20"])
      await pub.publishAsync("plant/pump-1/temp", value, { qos: 1 });

    await eventually(() => (local.length >= 4 ? true : undefined), 5_000, "the local results");
    deepStrictEqual(
      local.map(([topic, r]) => [topic, r.rule, r.kind, r.detector ?? r.aggregates]),
      [
        ["site/d/local-only/pump-1/agg", "local-only", "agg", { last: 20 }],
        ["site/d/local-only/pump-1/agg", "local-only", "agg", { last: 20 }],
        ["alerts/pump-1", "both", "alert", "flatline"],
        ["alerts/pump-1", "both", "agg", { count: 2, last: 20 }],
      ],
    );
    await eventually(
      () => (outboxRecords().length >= 3 ? true : undefined),
      5_000,
      "the upstream results",
    );
    deepStrictEqual(
      outboxRecords<Result>()
        .map((r) => [r.topic, r.priority, r.result.rule, r.result.kind])
        .sort((a, b) => String(a).localeCompare(String(b))),
      [
        ["brook/d/agg/both", Priority.bulk, "both", "agg"],
        ["brook/d/agg/upstream-only", Priority.aggregate, "upstream-only", "agg"],
        ["brook/d/alert/both", Priority.alert, "both", "alert"],
      ],
    );
    deepStrictEqual(
      [agent.status().counters.localPublished, agent.status().counters.dropped],
      [4, { outbox_unwritable: 0, local_publish_failed: 0 }],
    );
  });
});
