/**
 * publishStream's account of the time it waited for the broker (`brokerWaitMs`, which
 * `brook bench` and `bench:e2e` read to tell a slow system from a slow load generator): a
 * client injected, on a virtual clock that only the broker's late acknowledgements move.
 */
import { strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import type { MqttClient } from "mqtt";
import { publishStream } from "./publisher.js";
import type { SimMessage } from "./stream.js";

/** 1,000 messages, and a client that calls back at once, or, every `every`th publish, 50 ms later (its socket full). */
function run(every: number | undefined) {
  let clock = 0;
  let published = 0;
  const messages: SimMessage[] = Array.from({ length: 1_000 }, (_, i) => ({
    at: 0,
    topic: `s/${i}`,
    payload: "1",
  }));
  let i = 0;
  const client = {
    publish(_topic: string, _payload: string, _opts: object, done: () => void) {
      if (every !== undefined && ++published % every === 0)
        setImmediate(() => {
          clock += 50;
          done();
        });
      else done();
    },
  };
  return publishStream(() => messages[i++], client as unknown as MqttClient, {
    pace: { kind: "max" },
    qos: 0,
    stop: new Promise(() => undefined),
    now: () => clock,
  });
}

describe("brook sim's publisher: waiting for the broker", () => {
  it("counts the time sending waited for a client whose socket was full, and none when it never was", async () => {
    // Two turns of 512 and 488 messages, five late acknowledgements in each: 2 × 250 ms.
    const slow = await run(100);
    strictEqual(slow.sent, 1_000);
    strictEqual(slow.brokerWaitMs, 500);
    const fast = await run(undefined);
    strictEqual(fast.sent, 1_000);
    strictEqual(fast.brokerWaitMs, 0);
  });
});
