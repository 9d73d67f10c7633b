/**
 * Rule outputs: results published on the edge broker at a topic template, forwarded
 * upstream at a chosen priority, or both. Results stay in the outbox (no uplink), where
 * the test reads them; local results are read by a subscriber at the embedded broker.
 */
import { deepStrictEqual } from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import mqtt from "mqtt";
import { Priority } from "../cloud-sync/outbox.js";
import { startAgentWithRules } from "./helpers/agent.js";
import { eventually, stopAfterAll } from "./helpers/process.js";

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
  partial?: boolean;
}

/** An in-process agent with these rules, a subscriber collecting its local results on `topics`, and a publisher. */
async function setUp(
  name: string,
  rules: string,
  topics: string[],
  cleanups: (() => Promise<unknown>)[],
) {
  const started = await startAgentWithRules(name, rules, { watchRules: false });
  cleanups.push(() => started.agent.stop(0));
  const local: [string, Result][] = [];
  const sub = await mqtt.connectAsync(started.agent.edgeUrl);
  cleanups.push(() => sub.endAsync());
  sub.on("message", (topic, payload) => {
    local.push([topic, JSON.parse(payload.toString()) as Result]);
  });
  await sub.subscribeAsync(topics, { qos: 1 });
  const pub = await mqtt.connectAsync(started.agent.edgeUrl);
  cleanups.push(() => pub.endAsync());
  return { ...started, local, pub };
}

describe("rule outputs", () => {
  const cleanups = stopAfterAll();

  it("publish on the edge broker by template, forward upstream at the rule's priority, or both", async () => {
    const { agent, outboxRecords, local, pub } = await setUp(
      "outputs",
      RULES,
      ["site/#", "alerts/#"],
      cleanups,
    );
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
    await eventually(
      () => (agent.status().counters.localPublished === 4 ? true : undefined),
      5_000,
      "the edge broker's acknowledgements",
    );
    deepStrictEqual(
      [agent.status().counters.localPublished, agent.status().counters.dropped],
      [4, { outbox_unwritable: 0, local_publish_failed: 0, local_queue_full: 0 }],
    );
  });
});

describe("rule outputs across a reload", () => {
  const cleanups = stopAfterAll();

  it("a changed rule's open window goes out through its old outputs; an unchanged detector keeps its run", async () => {
    const before = `sources:
  - { name: plant, topic: plant/+/temp, format: number, sensor: "{1}" }
rules:
  - name: changed
    window: { type: count, n: 3, every: 3 }
    aggregates: [count]
    outputs: { local: "old/{key}", upstream: false }
  - name: stuck
    aggregates: []
    detectors: [{ type: flatline, samples: 3 }]
    outputs: { local: "stuck/{key}", upstream: false }
`;
    const { agent, rulesFile, local, pub } = await setUp(
      "outputs-reload",
      before,
      ["old/#", "new/#", "stuck/#"],
      cleanups,
    );
    let sent = 0;
    const publish = async (n: number) => {
      for (let i = 0; i < n; i++) await pub.publishAsync("plant/p1/temp", "7", { qos: 1 });
      sent += n;
      await eventually(
        () => (agent.status().counters.readings === sent ? true : undefined),
        5_000,
        "the readings to reach the engine",
      );
    };
    await publish(2); // `changed` holds 2 readings; `stuck` a run of 2

    writeFileSync(
      rulesFile,
      before.replace("n: 3, every: 3", "n: 4, every: 4").replace("old/{key}", "new/{key}"),
    );
    deepStrictEqual(agent.reloadRules(), { ok: true, problems: [] });
    await publish(1); // the third equal reading: `stuck` fires, its run kept across the reload

    await eventually(() => (local.length >= 2 ? true : undefined), 5_000, "the local results");
    deepStrictEqual(
      local.map(([topic, r]) => [topic, r.rule, r.kind, r.partial ?? r.detector]),
      [
        ["old/p1", "changed", "agg", true],
        ["stuck/p1", "stuck", "alert", "flatline"],
      ],
    );
  });

  it("a removed rule's last result, on a topic a new source reads, comes back in after the reload (here a counted dead letter)", async () => {
    const before = `sources:
  - { name: plant, topic: plant/+/temp, format: number, sensor: "{1}" }
rules:
  - name: pairs
    window: { type: count, n: 2, every: 2 }
    aggregates: [count]
    outputs: { local: "loop/{key}", upstream: false }
`;
    // Each file alone passes the feedback check; together, across the reload, they loop once.
    const after = `sources:
  - { name: plant, topic: plant/+/temp, format: number, sensor: "{1}" }
  - { name: loop, topic: loop/+, format: number, sensor: "{1}" }
rules:
  - name: kept
    source: plant
    window: { type: count, n: 2, every: 2 }
    aggregates: [count]
`;
    const { agent, rulesFile, local, pub } = await setUp(
      "outputs-echo",
      before,
      ["loop/#"],
      cleanups,
    );
    await pub.publishAsync("plant/p1/temp", "7", { qos: 1 }); // `pairs` holds 1 reading
    writeFileSync(rulesFile, after);
    deepStrictEqual(agent.reloadRules(), { ok: true, problems: [] });
    await eventually(
      () => (agent.status().counters.deadLetters.bad_value === 1 ? true : undefined),
      5_000,
      "the partial result, back in as a reading of `loop`",
    );
    await eventually(() => (local.length >= 1 ? true : undefined), 5_000, "the local result");
    deepStrictEqual(
      local.map(([topic, r]) => [topic, r.rule, r.partial]),
      [["loop/p1", "pairs", true]],
    );
    deepStrictEqual(agent.status().counters.readings, 1);
  });

  it("publish alerts on the edge broker by default as they open and resolve, and upstream at alert priority", async () => {
    const rules = `sources:
  - { name: plant, topic: plant/+/temp, format: number, sensor: "{1}" }
rules:
  - name: hot
    aggregates: []
    detectors: [{ type: threshold, high: 50, severity: critical }]
`;
    const { agent, outboxRecords, local, pub } = await setUp(
      "alerts",
      rules,
      ["brook/#"],
      cleanups,
    );
    for (const value of ["20", "60", "20"])
      await pub.publishAsync("plant/pump-1/temp", value, { qos: 1 });
    await eventually(() => (local.length >= 2 ? true : undefined), 5_000, "the local alerts");
    deepStrictEqual(
      local.map(([topic, r]) => {
        const a = r as Result & { state: string; severity: string; value: number };
        return [topic, a.detector, a.state, a.severity, a.value];
      }),
      [
        ["brook/d/alert/hot/pump-1", "threshold", "open", "critical", 60],
        ["brook/d/alert/hot/pump-1", "threshold", "resolved", "critical", 60],
      ],
    );
    await eventually(
      () =>
        outboxRecords<{ state: string }>().some((r) => r.result.state === "resolved")
          ? true
          : undefined,
      5_000,
      "the upstream alert",
    );
    deepStrictEqual(
      [...new Set(outboxRecords().map((r) => [r.topic, r.priority].join(" ")))],
      [`brook/d/alert/hot ${Priority.alert}`],
    );
    // The opening (not its resolution) is timed, from its reading's arrival to its publish.
    await eventually(
      () => (agent.status().counters.localPublished === 2 ? true : undefined),
      5_000,
      "the edge broker's acknowledgements",
    );
    const latency = (await agent.alertLatency.get()).values;
    const count = latency.find((v) => v.metricName === "brook_alert_latency_seconds_count");
    deepStrictEqual(count?.value, 1);
  });
});
