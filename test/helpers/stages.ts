/**
 * The agent's stages without the agent: made from a config text on `dir`, recovered from
 * what `dir` holds, with the reading log's commits deferred to `turn()` (the end of a turn
 * of the event loop), on a virtual clock. For tests that cut a run at exact points.
 */
import { join } from "node:path";
import { Histogram } from "prom-client";
import { loadRules } from "../../agent/compile/load.js";
import { parseConfig } from "../../agent/config/load.js";
import { createLogger } from "../../agent/runtime/log.js";
import { newCounters } from "../../agent/runtime/metrics.js";
import { recoverState } from "../../agent/runtime/recovery.js";
import { buildStages } from "../../agent/runtime/stages.js";
import type { VirtualClock } from "../../lib/clock.js";

export function recoveredStages(dir: string, clock: VirtualClock, configText: string) {
  const config = parseConfig(join(dir, "config.yaml"), configText);
  const deferred: (() => void)[] = [];
  const counters = newCounters();
  const stages = buildStages({
    config,
    rules: loadRules(config.rulesFile),
    counters,
    alertLatency: new Histogram({ name: "t", help: "t", registers: [] }),
    clock,
    logger: createLogger("silent"),
    committed: () => undefined,
    wantsCheckpoint: () => undefined,
    defer: (fn) => deferred.push(fn),
  });
  recoverState(stages, createLogger("silent"), counters, clock.now(), config.maxFutureMs, (err) => {
    throw err;
  });
  return {
    config,
    stages,
    counters,
    /** the end of a turn of the event loop: the reading log's commit */
    turn() {
      for (const fn of deferred.splice(0)) fn();
    },
  };
}
