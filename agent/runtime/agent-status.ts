/**
 * What the agent says of itself at a moment (`Agent.status()`, `/healthz`'s body, the
 * status report's figures): read from its stages, nothing kept.
 */
import type { LinkState, Uplink } from "../../cloud-sync/uplink.js";
import type { EngineCounters } from "../engine/engine.js";
import type { AgentState } from "./lifecycle.js";
import type { AgentCounters } from "./metrics.js";
import type { Stages } from "./stages.js";

export interface AgentStatus {
  state: AgentState;
  counters: AgentCounters;
  outboxDepth: number;
  openWindows: number;
  engine: EngineCounters;
  stateBytes: number;
  uplink: LinkState | "disabled";
  /** results sent and not yet acknowledged */
  uplinkInFlight: number;
  /** results acknowledged by the cloud broker since start */
  uplinkAcknowledged: number;
  /** the reading log: undefined when it is off */
  readingLog:
    | {
        /** bytes since the last checkpoint */
        bytes: number;
        /** it takes input now (not full, its commits succeed) */
        accepting: boolean;
        /** messages held, unacknowledged, while it takes nothing */
        held: number;
        commitFailures: number;
      }
    | undefined;
}

/** Results waiting to go up: the outbox's, and those the batcher has not handed it yet. */
export function outboxDepth(stages: Stages): number {
  return stages.outbox.depth() + stages.batcher.pending;
}

export function agentStatus(
  state: AgentState,
  stages: Stages,
  counters: AgentCounters,
  uplink: Uplink | undefined,
): AgentStatus {
  const { engine } = stages.pipeline;
  const { log, input } = stages;
  return {
    state,
    counters,
    outboxDepth: outboxDepth(stages),
    openWindows: engine.openWindows(),
    engine: engine.counters,
    stateBytes: engine.stateBytes(),
    uplink: uplink?.state ?? "disabled",
    uplinkInFlight: uplink?.inFlightCount ?? 0,
    uplinkAcknowledged: uplink?.acknowledged ?? 0,
    readingLog:
      log === undefined
        ? undefined
        : {
            bytes: log.size,
            accepting: log.accepting,
            held: input.held,
            commitFailures: log.counters.failedCommits,
          },
  };
}
