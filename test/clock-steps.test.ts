/**
 * The system clock stepped an hour forward and back while the agent runs (an NTP sync, a
 * hand-set date): processing time goes on steadily (lib/clock.ts), so idle timeouts fire
 * when they should and not an hour early; event time follows the later of the two, so a
 * reading stamped with the corrected time is not "future" and one without a time is not
 * stamped in a past the agent already passed.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import mqtt from "mqtt";
import { VirtualClock } from "../lib/clock.js";
import { startAgentWithRules } from "./helpers/agent.js";
import { stopAfterAll } from "./helpers/process.js";

const RULES =
  "rules:\n  - { name: m, window: { type: tumbling, size: 1m }, idleTimeout: 2m, aggregates: [count] }\n";
const HOUR = 3_600_000;

describe("clock steps", () => {
  const stops = stopAfterAll();

  it("idle timeouts, maxFuture and arrival times stay right when the wall clock jumps an hour", async () => {
    const t0 = Math.ceil(Date.now() / 60_000) * 60_000 + 10_000; // 10 s into a minute
    const clock = new VirtualClock(t0);
    const { agent, outboxResults } = await startAgentWithRules("clock", RULES, {
      clock,
      watchRules: false,
    });
    stops.push(() => agent.stop(0));
    const client = await mqtt.connectAsync(agent.edgeUrl);
    stops.push(() => client.endAsync(true));
    const send = (sensor: string, payload: object) =>
      client.publishAsync(`sensors/d/${sensor}`, JSON.stringify(payload), { qos: 1 });

    await send("a", { ts: clock.wall(), value: 1 });
    // The wall clock jumps an hour forward; 90 s of processing time pass (< the 2 min idle timeout).
    clock.stepWall(HOUR);
    clock.advance(90_000);
    strictEqual(agent.status().openWindows, 1, "not flushed as idle an hour early");
    // A reading stamped with the corrected time is not stamped in the future.
    await send("b", { ts: clock.wall(), value: 2 });
    // The wall clock jumps two hours back: a reading without a time gets the steady time.
    clock.stepWall(-2 * HOUR);
    await send("c", { value: 3 });
    deepStrictEqual(agent.status().counters.deadLetters.future, 0);
    // Idle flushes come on the processing clock: a's 2 min after its reading, b's and c's later.
    clock.advance(31_000);
    deepStrictEqual(
      outboxResults<{ key: string }>().map((r) => r.key),
      ["d/a"],
    );
    clock.advance(120_000);
    await agent.stop(0);
    const windows = outboxResults<{ key: string; start: number }>();
    const startOf = (key: string) => windows.find((w) => w.key === key)?.start;
    deepStrictEqual(
      [startOf("d/a"), startOf("d/b"), startOf("d/c")],
      [t0 - 10_000, t0 - 10_000 + 60_000 + HOUR, t0 - 10_000 + 60_000],
    );
  });
});
