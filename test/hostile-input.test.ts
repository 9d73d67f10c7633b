/**
 * Hostile and broken input at the embedded broker, as an outside check found it (issue 18):
 * each ends as a counted dead letter with a reason the README lists and a log line that
 * says what was wrong — never a processing error, a wrong value, or a silent drop.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import mqtt from "mqtt";
import { pino } from "pino";
import { VirtualClock } from "../lib/clock.js";
import { startAgentWithRules } from "./helpers/agent.js";
import { stopAfterAll } from "./helpers/process.js";

const RULES =
  "rules:\n  - { name: s, window: { type: tumbling, size: 1s }, aggregates: [count, mean, sum, min, max, stddev] }\n";
const T = 1_700_000_000_000;

describe("hostile input", () => {
  const stops = stopAfterAll();

  it("each finding ends as a counted, explained dead letter", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(line) });
    // A virtual clock, moved on between messages, so that every dead letter is logged (the
    // log says at most one line per 5 s).
    const clock = new VirtualClock(Date.now());
    const { agent, outboxResults } = await startAgentWithRules("hostile", RULES, {
      logger,
      clock,
      watchRules: false,
    });
    stops.push(() => agent.stop(0));
    const client = await mqtt.connectAsync(agent.edgeUrl);
    stops.push(() => client.endAsync(true));
    const send = async (topic: string, payload: string) => {
      clock.advance(6_000);
      await client.publishAsync(topic, payload, { qos: 1 });
    };
    // A value nested 10,000 arrays deep (its dead letter's detail used to overflow the stack).
    await send(
      "sensors/d/deep",
      `{"ts": ${T}, "value": ${"[".repeat(10_000)}${"]".repeat(10_000)}}`,
    );
    // Two readings of 1e308 in one window (the sum overflowed: mean null at the sink).
    await send("sensors/d/huge", `{"ts": ${T}, "value": 1e308}`);
    await send("sensors/d/huge", `{"ts": ${T + 1}, "value": 1e308}`);
    // A time beyond any date (it was a dead letter "future", and a reading too).
    await send("sensors/d/far", `{"ts": 1e20, "value": 1}`);
    // A value JSON parses to Infinity (its log line said "got null").
    await send("sensors/d/inf", `{"ts": ${T}, "value": 1e999999}`);
    // Topics under sensors/ of the wrong shape (ignored, uncounted) and with an empty level.
    await send("sensors/only-two", `{"ts": ${T}, "value": 1}`);
    await send("sensors/a/b/c", `{"ts": ${T}, "value": 1}`);
    await send("sensors//y", `{"ts": ${T}, "value": 1}`);
    await send("sensors/x/", `{"ts": ${T}, "value": 1}`);
    // And good readings beside them, closing their window.
    await send("sensors/d/ok", `{"ts": ${T}, "value": 2}`);
    await send("sensors/d/ok", `{"ts": ${T + 500}, "value": 4}`);
    await send("sensors/d/ok", `{"ts": ${T + 2_000}, "value": 0}`);
    const counters = agent.status().counters;
    deepStrictEqual(
      {
        deadLetters: counters.deadLetters,
        readings: counters.readings,
        processingErrors: counters.processingErrors,
      },
      {
        deadLetters: {
          bad_topic: 2,
          bad_value: 4,
          bad_ts: 1,
          bad_payload: 0,
          bad_sensor: 2,
          future: 0,
        },
        readings: 3,
        processingErrors: 0,
      },
    );
    await agent.stop(0);
    const windows = outboxResults<{ key: string; aggregates: Record<string, number | null> }>();
    deepStrictEqual(
      windows.map((w) => [w.key, w.aggregates]),
      [["d/ok", { count: 2, mean: 3, sum: 6, min: 2, max: 4, stddev: Math.SQRT2 }]],
    );
    const logged = lines.map(
      (l) => JSON.parse(l) as { reason?: string; detail?: string; topic?: string },
    );
    const detail = (topic: string) => logged.find((l) => l.topic === topic)?.detail ?? "";
    ok(detail("sensors/d/deep").includes("an array of 1"), detail("sensors/d/deep"));
    ok(detail("sensors/d/huge").includes("out of range"), detail("sensors/d/huge"));
    ok(detail("sensors/d/inf").includes("Infinity"), detail("sensors/d/inf"));
    ok(detail("sensors/d/far").includes("not a time"), detail("sensors/d/far"));
  });

  it("the README lists exactly the dead-letter reasons /metrics has", async () => {
    const { agent } = await startAgentWithRules("reasons", RULES, { watchRules: false });
    stops.push(() => agent.stop(0));
    const inMetrics = Object.keys(agent.status().counters.deadLetters).sort();
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const listed = /brook_dead_letters_total\{reason="([a-z_|]+)"\}/
      .exec(readme)?.[1]
      ?.split("|")
      .sort();
    deepStrictEqual(listed, inMetrics);
  });
});
