/**
 * The status report (status.ts) from the agent's parts: what `/status`, the live page and
 * `brook status` show, made in one place.
 */
import type { AgentStatus } from "../runtime/agent-status.js";
import type { LiveRecorder } from "./recorder.js";
import type { Readiness, StatusReport } from "./status.js";
import { nonZero } from "./status.js";

export interface ReportParts {
  device: string;
  version: string;
  /** when the agent started, and now (ms since the epoch) */
  startedAt: number;
  now: number;
  status: AgentStatus;
  stateBudgetBytes: number;
  outbox: { bytes: number; oldestAgeMs: number; drops: Record<string, number> };
  recorder: LiveRecorder;
  loopLagMs: { p99: number; max: number };
  ready: Readiness;
}

export function buildReport(p: ReportParts): StatusReport {
  const { status, recorder } = p;
  const c = status.counters;
  const log = status.readingLog;
  return {
    device: p.device,
    version: p.version,
    state: status.state,
    ready: p.ready,
    uptimeS: Math.max(0, Math.round((p.now - p.startedAt) / 100) / 10),
    readings: c.readings,
    readingsPerSec: recorder.samples.at(-1)?.readingsPerSec ?? 0,
    openWindows: status.openWindows,
    stateBytes: status.stateBytes,
    stateBudgetBytes: p.stateBudgetBytes,
    alertsOpen: recorder.openAlerts,
    outbox: {
      depth: status.outboxDepth,
      bytes: p.outbox.bytes,
      oldestAgeS: Math.round(p.outbox.oldestAgeMs / 100) / 10,
      drops: p.outbox.drops,
    },
    uplink: {
      state: status.uplink,
      inFlight: status.uplinkInFlight,
      acknowledged: status.uplinkAcknowledged,
    },
    drops: nonZero({
      dead_letter: c.deadLetters,
      late_readings: status.engine.late,
      evicted_keys: status.engine.evictedKeys,
      partial_windows: c.partialWindows,
      processing_errors: c.processingErrors,
      refused: c.refused,
      edge_dropped: c.edgeDropped,
      throttled: c.throttled,
      dropped: c.dropped,
      lost: c.lost,
      log_corrupt: c.logCorrupt,
    }),
    readingLog:
      log === undefined ? null : { bytes: log.bytes, accepting: log.accepting, held: log.held },
    rules: recorder.rulesInfo,
    eventLoopLagMs: p.loopLagMs,
    sensors: { tracked: recorder.sensorCount, untrackedReadings: recorder.untracked },
  };
}
