import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { judge, result, type StepFigures, summarize, verdictLines } from "./steps.js";

const step = (over: Partial<StepFigures>): StepFigures => ({
  target: 10_000,
  sent: 100_000,
  achieved: 10_000,
  taken: 100_000,
  refused: 0,
  cpuUs: 1_200_000,
  rssMb: 80,
  peakRssMb: 90,
  outboxPerSec: 150,
  seconds: 10,
  ...over,
});

describe("brook bench: a step's verdict", () => {
  it("is sustained when every reading published was taken at the target rate", () => {
    strictEqual(judge(step({}), 0), "sustained");
    strictEqual(result(step({}), 0).cpuUsPerReading, 12);
  });

  it("fell behind when the agent took fewer than were published", () => {
    strictEqual(judge(step({ taken: 99_999 }), 0), "fell behind");
  });

  it("refused readings when any was a dead letter or failed, even if all were taken", () => {
    strictEqual(judge(step({ refused: 1 }), 0), "refused readings");
  });

  it("counted twice when more were taken than published (two sources match one topic): losses could hide", () => {
    strictEqual(judge(step({ taken: 100_001 }), 0), "counted twice");
    const summary = summarize([result(step({}), 0), result(step({ taken: 200_000 }), 0)]);
    strictEqual(summary.stoppedBy, "counted twice");
    match(verdictLines(summary)[1] as string, /more than one of the rules' sources matches/);
  });

  it("below 95 % of the target: the publisher's limit at QoS 0, the agent's at QoS 1 (its PUBACKs pace the fleet)", () => {
    strictEqual(judge(step({ achieved: 9_400 }), 0), "publisher limited");
    strictEqual(judge(step({ achieved: 9_400 }), 1), "fell behind");
    strictEqual(judge(step({ achieved: 9_500 }), 1), "sustained");
  });

  it("below 95 % at QoS 0 with a publisher waiting 5 % of the step for the broker to read: the agent fell behind", () => {
    strictEqual(judge(step({ achieved: 9_400, brokerWaitSeconds: 0.49 }), 0), "publisher limited");
    strictEqual(judge(step({ achieved: 9_400, brokerWaitSeconds: 0.5 }), 0), "fell behind");
    strictEqual(judge(step({ achieved: 9_500, brokerWaitSeconds: 3 }), 0), "sustained");
  });
});

describe("brook bench: the summary", () => {
  it("reports the highest sustained step, what stopped the climb, and the headroom over the expected rate", () => {
    const steps = [
      result(step({ target: 5_000, achieved: 5_000, rssMb: 70, peakRssMb: 75 }), 0),
      result(step({ target: 10_000, achieved: 9_990, rssMb: 80, peakRssMb: 95 }), 0),
      result(step({ target: 20_000, achieved: 20_000, taken: 10, peakRssMb: 120 }), 0),
    ];
    const summary = summarize(steps, 2_000);
    deepStrictEqual(summary, {
      sustainedPerSec: 9_990,
      cpuUsPerReading: 12,
      rssMb: 80,
      peakRssMb: 120,
      outboxPerSec: 150,
      limit: "agent",
      stoppedBy: "fell behind",
      headroom: 5,
    });
    const lines = verdictLines(summary, 2_000);
    match(lines[0] as string, /sustained: 9,990 readings\/s with nothing lost/);
    match(lines[1] as string, /more than the agent took/);
    match(lines[2] as string, /at the expected 2,000 readings\/s: 5× headroom/);
  });

  it("says so when the load generator was the limit, or when the expected rate is not sustained", () => {
    const steps = [result(step({}), 0), result(step({ target: 80_000, achieved: 50_000 }), 0)];
    const summary = summarize(steps, 20_000);
    strictEqual(summary.limit, "publisher");
    const lines = verdictLines(summary, 20_000);
    match(lines[1] as string, /the fleet fell short of the next rate with nothing lost/);
    match(lines[2] as string, /NOT sustained \(the most sustained is 0.5× of it\)/);
  });

  it("with no step sustained: 0 and says so", () => {
    const summary = summarize([result(step({ taken: 0 }), 0)]);
    strictEqual(summary.sustainedPerSec, 0);
    match(verdictLines(summary)[0] as string, /no rate tried was sustained/);
  });
});
