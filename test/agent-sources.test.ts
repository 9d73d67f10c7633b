/**
 * Sources in a rules file: the agent subscribes to each source's topic filter and decodes
 * its payloads in the source's format (json with field paths, SenML, plain numbers, Influx
 * line protocol), and each rule sees only the readings it picks. Results stay in the
 * outbox (no uplink), where the test reads them.
 */
import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import mqtt from "mqtt";
import { startAgentWithRules } from "./helpers/agent.js";
import { eventually, stopAfterAll } from "./helpers/process.js";

const RULES = `sources:
  - { name: plant, topic: factory/+/telemetry, sensor: "{1}/temp", fields: { value: data.t, time: at, tags: { line: meta.line } }, time: s, scale: { factor: 0.1 } }
  - { name: greenhouse, topic: greenhouse/+, format: senml }
  - { name: meters, topic: meter/+, format: number, sensor: "meter/{1}" }
  - { name: gateway, topic: influx/#, format: influx }
rules:
  - { name: line-a, source: plant, tags: { line: A }, window: { type: count, n: 1 }, aggregates: [last] }
  - { name: greenhouse, source: greenhouse, window: { type: count, n: 1 }, aggregates: [last] }
  - { name: meters, source: meters, filter: { max: 1000 }, window: { type: count, n: 1 }, aggregates: [last] }
  - { name: gateway, source: gateway, sensors: "weather/*", window: { type: count, n: 1 }, aggregates: [last] }
`;

describe("rules-file sources", () => {
  const cleanups = stopAfterAll();

  it("decode json, SenML, numbers and line protocol from their topics, each rule seeing its own readings", async () => {
    const { agent, outboxResults } = await startAgentWithRules("sources", RULES, {
      watchRules: false,
    });
    cleanups.push(() => agent.stop(0));
    const client = await mqtt.connectAsync(agent.edgeUrl);
    cleanups.push(() => client.endAsync());
    const messages: [string, string][] = [
      [
        "factory/pump-1/telemetry",
        JSON.stringify([
          { at: 1_700_000_000, data: { t: 215 }, meta: { line: "A" } },
          { at: 1_700_000_001, data: { t: 999 }, meta: { line: "B" } },
        ]),
      ],
      [
        "greenhouse/3",
        JSON.stringify([
          { bn: "gh3/", bt: 1_700_000_000, n: "temp", v: 19.5 },
          { n: "door", vs: "open" },
        ]),
      ],
      ["meter/kitchen", "42.5"],
      ["meter/kitchen", "99999"], // above the rule's filter
      ["meter/garage", "not a number"],
      [
        "influx/site-1",
        "weather,site=roof temperature=21.5,humidity=60i 1700000000000000000\npower watts=120",
      ],
      ["elsewhere/x", "1"], // no source subscribes to it
    ];
    for (const [topic, payload] of messages) await client.publishAsync(topic, payload, { qos: 1 });
    await eventually(
      () => (agent.status().counters.readings === 8 ? true : undefined),
      5_000,
      "the readings to reach the engine",
    );
    const results = () => {
      return outboxResults<{ rule: string; key: string; aggregates: { last: number } }>()
        .map((r) => [r.rule, r.key, r.aggregates.last])
        .sort((a, b) => String(a).localeCompare(String(b)));
    };
    await eventually(
      () => (results().length >= 5 ? true : undefined),
      5_000,
      "the results in the outbox",
    );
    deepStrictEqual(results(), [
      ["gateway", "weather/humidity", 60],
      ["gateway", "weather/temperature", 21.5],
      ["greenhouse", "gh3/temp", 19.5],
      ["line-a", "pump-1/temp", 21.5],
      ["meters", "meter/kitchen", 42.5],
    ]);
    const dead = agent.status().counters.deadLetters;
    deepStrictEqual([dead.bad_value, dead.bad_topic], [2, 0]); // the SenML text value and "not a number"
  });

  it("a message whose processing fails (a bug) is counted and skipped; the agent goes on", async () => {
    const { agent } = await startAgentWithRules("sources-error", RULES, { watchRules: false });
    cleanups.push(() => agent.stop(0));
    // A fault put in on purpose: the engine throws on the first reading only.
    const { engine } = (
      agent as unknown as {
        stages: { pipeline: { engine: { process: (...args: unknown[]) => boolean } } };
      }
    ).stages.pipeline;
    const process = engine.process.bind(engine);
    let calls = 0;
    engine.process = (...args) => {
      if (++calls === 1) throw new Error("a bug");
      return process(...args);
    };
    const client = await mqtt.connectAsync(agent.edgeUrl);
    cleanups.push(() => client.endAsync());
    // QoS 1: each publish resolves on its PUBACK; aedes sends it and routes the message to the
    // agent in the same turn, before this process can read it.
    await client.publishAsync("meter/m1", "5", { qos: 1 });
    await client.publishAsync("meter/m1", "6", { qos: 1 });
    deepStrictEqual(
      [agent.status().counters.processingErrors, agent.status().counters.readings, calls],
      // brook_readings_total counts the readings the engine took: not the one that failed.
      [1, 1, 2],
    );
  });
});
