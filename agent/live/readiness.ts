/** Whether the agent is ready (`/readyz`), and why not: a line a reason. */
import type { AgentState } from "../runtime/lifecycle.js";
import type { Stages } from "../runtime/stages.js";
import type { Readiness } from "./status.js";

/** Ready once the broker, the rules and the outbox are up, and the reading log takes input. */
export function readiness(
  state: AgentState,
  stages: Pick<Stages, "edge" | "pipeline" | "batcher" | "log">,
): Readiness {
  const why: string[] = [];
  if (state !== "ready" && state !== "reloading") why.push(`the agent is ${state}`);
  const { edge, pipeline, batcher, log } = stages;
  if (!edge.connected)
    why.push(
      `the edge broker (${edge.url || "not started"}) is not reachable, or the agent's subscription is not in place yet`,
    );
  if (pipeline.engine.ruleNames().length === 0) why.push("no rules are loaded");
  if (batcher.failingNow)
    why.push("the outbox cannot be written (its last commit failed; it is retried)");
  if (log !== undefined && !log.accepting)
    why.push("the reading log takes no input (disk full?): messages wait unacknowledged");
  return { ready: why.length === 0, why };
}
