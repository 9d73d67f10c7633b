import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { type AgentEvent, type AgentState, Lifecycle, nextState } from "./lifecycle.js";

describe("the agent's lifecycle", () => {
  const STATES: AgentState[] = ["starting", "ready", "reloading", "stopping", "stopped"];
  const EVENTS: AgentEvent[] = ["started", "failed", "reload", "reloaded", "stop", "stopped"];
  /** Every transition that applies; every other (state, event) pair is refused. */
  const allowed: Record<string, AgentState> = {
    "starting started": "ready",
    "starting failed": "stopping",
    "starting stop": "stopping",
    "ready reload": "reloading",
    "ready stop": "stopping",
    "reloading reloaded": "ready",
    "reloading stop": "stopping",
    "stopping stopped": "stopped",
  };
  for (const state of STATES)
    for (const event of EVENTS) {
      const to = allowed[`${state} ${event}`];
      it(`${state} --${event}--> ${to ?? "(refused)"}`, () =>
        strictEqual(nextState(state, event), to));
    }

  it("moves only on events that apply, and reports each move", () => {
    const moves: string[] = [];
    const life = new Lifecycle((state, previous) => moves.push(`${previous}→${state}`));
    const fired = (
      ["reload", "started", "reload", "stop", "reloaded", "stopped", "stop"] as const
    ).map((e) => life.fire(e));
    deepStrictEqual(fired, [false, true, true, true, false, true, false]);
    deepStrictEqual(moves, [
      "starting→ready",
      "ready→reloading",
      "reloading→stopping",
      "stopping→stopped",
    ]);
    strictEqual(life.state, "stopped");
  });
});
