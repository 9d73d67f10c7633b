/**
 * Recovery at start, before the first message: the last checkpoint's state restored, and
 * the reading log after it replayed, so the engine is where it was when the agent stopped
 * or crashed. A crash can lose the QoS 0 readings of its last turn, stamped at most
 * maxFuture after it: after one, the windows of the keys that take QoS 0 readings, up to
 * that time, are marked to be emitted partial. After a replay, a
 * checkpoint truncates the log. Then a tick is logged and committed at once: from then on
 * the log is not empty, so a crash at any moment is known as one at the next start.
 */
import { rmSync } from "node:fs";
import type { Logger } from "./log.js";
import { listSegments, moveSegmentAside, readLog, segmentPath } from "./log-segments.js";
import type { AgentCounters } from "./metrics.js";
import type { Stages } from "./stages.js";

/** How long after the last logged record a crash could still have lost readings (a turn of the event loop). */
const LAST_TURN_MS = 1_000;

export interface Recovered {
  /** records replayed from the log */
  replayed: number;
  /** the agent had not stopped cleanly */
  unclean: boolean;
  /** the windows open were marked partial */
  markedPartial: boolean;
}

export function recoverState(
  stages: Pick<
    Stages,
    "store" | "pipeline" | "input" | "redeliveries" | "log" | "logDir" | "checkpointer"
  >,
  logger: Logger,
  counters: AgentCounters,
  now: number,
  maxFutureMs: number,
  failed: (err: unknown, topic: string) => void,
): Recovered {
  const { store, pipeline, input, redeliveries, log, logDir, checkpointer } = stages;
  const saved = store.load();
  const checkpoint = saved?.checkpoint;
  if (checkpoint !== undefined && saved !== undefined) {
    pipeline.restore(checkpoint.engine);
    if (checkpoint.redeliveries !== undefined) redeliveries.restore(checkpoint.redeliveries);
    logger.info(
      {
        openWindows: pipeline.engine.openWindows(),
        keys: pipeline.engine.keyCount(),
        checkpointBytes: saved.bytes,
        savedAt: new Date(saved.savedAt).toISOString(),
      },
      "engine state restored",
    );
  }
  // With the log turned off since it was written, what it holds is replayed all the same
  // (it was acknowledged), then deleted.
  const leftover = log === undefined ? listSegments(logDir) : [];
  if (log === undefined && leftover.length === 0)
    return { replayed: 0, unclean: false, markedPartial: false };
  const from = checkpoint?.log?.position ?? { segment: 0, offset: 0 };
  const replayed = input.replay((each) => readLog(logDir, from, each), failed);
  let corrupt = false;
  for (const stop of replayed.stops) {
    if (stop.reason === "torn") {
      logger.info(
        { ...stop },
        "reading log segment ends in a record torn by a crash (never acknowledged): its replay stops there",
      );
      continue;
    }
    corrupt = true;
    counters.logCorrupt.segments++;
    counters.logCorrupt.bytes += stop.bytesLeft;
    const movedTo = moveSegmentAside(logDir, stop.segment);
    logger.error(
      { ...stop, movedTo },
      "reading log segment is corrupt: its replay stops there, what follows in it is lost (moved aside), and the windows open are emitted partial",
    );
  }
  if (replayed.records > 0)
    logger.info(
      { records: replayed.records, openWindows: pipeline.engine.openWindows() },
      "reading log replayed",
    );
  const unclean = checkpoint?.log?.clean !== true || replayed.records > 0;
  // When the previous run ended: a crash at most a turn after its last record, a stop at its last checkpoint.
  if (saved !== undefined || replayed.records > 0)
    input.previousRunEnd = Math.max(input.latestAt + LAST_TURN_MS, saved?.savedAt ?? 0);
  // Replayed without the checkpoint it follows (state.db lost or moved aside: segments were
  // truncated behind one): the windows lack the readings before it.
  const stateLost =
    corrupt ||
    (checkpoint === undefined && replayed.records > 0 && (replayed.firstSegment ?? 1) > 1);
  if (stateLost && !corrupt) {
    logger.error(
      "the reading log was replayed without its checkpoint: the windows open now lack earlier readings, and are emitted partial",
    );
  }
  if (stateLost) {
    pipeline.markLossyWindowsPartial(input.latestAt + maxFutureMs, true);
  }
  const markedPartial =
    stateLost || (unclean && (checkpoint?.log?.qos0 === true || input.tookQos0));
  if (markedPartial && !stateLost) {
    const until = Math.max(input.latestAt + LAST_TURN_MS, saved?.savedAt ?? 0) + maxFutureMs;
    pipeline.markLossyWindowsPartial(until);
    logger.warn(
      { until: new Date(until).toISOString() },
      "the agent stopped without a clean shutdown and takes QoS 0 readings, which a crash can lose: their windows up to this event time are emitted partial",
    );
  }
  if (replayed.records > 0 || log === undefined) checkpointer.save(now);
  if (log === undefined) {
    for (const n of leftover) rmSync(segmentPath(logDir, n), { force: true });
    logger.warn(
      { records: replayed.records },
      "the reading log is off, but held readings from when it was on: replayed, then deleted",
    );
  }
  input.tick(now);
  log?.commit();
  return { replayed: replayed.records, unclean, markedPartial };
}
