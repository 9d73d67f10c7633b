/**
 * Recovery at start, before the first message: the last checkpoint's state restored, and
 * the reading log after it replayed, so the engine is where it was when the agent stopped
 * or crashed. A crash can lose the QoS 0 readings of its last turn, stamped at most
 * maxFuture after it: after one, the windows of the keys that take QoS 0 readings, up to
 * that time, are marked to be emitted partial. After a replay, a
 * checkpoint truncates the log. Then a tick is logged and committed at once: from then on
 * the log is not empty, so a crash at any moment is known as one at the next start.
 */
import type { Logger } from "./log.js";

/** How long after the last logged record a crash could still have lost readings (a turn of the event loop). */
const LAST_TURN_MS = 1_000;

import type { Stages } from "./stages.js";

export interface Recovered {
  /** records replayed from the log */
  replayed: number;
  /** the agent had not stopped cleanly */
  unclean: boolean;
  /** the windows open were marked partial */
  markedPartial: boolean;
}

export function recoverState(
  stages: Pick<Stages, "store" | "pipeline" | "input" | "redeliveries" | "log" | "checkpointer">,
  logger: Logger,
  now: number,
  maxFutureMs: number,
  failed: (err: unknown, topic: string) => void,
): Recovered {
  const { store, pipeline, input, redeliveries, log, checkpointer } = stages;
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
  if (log === undefined) return { replayed: 0, unclean: false, markedPartial: false };
  const replayed = input.replay(checkpoint?.log?.position, failed);
  const stop = replayed.stoppedAt;
  if (stop !== undefined)
    logger[stop.reason === "torn" ? "info" : "error"](
      { ...stop },
      stop.reason === "torn"
        ? "reading log ends in a record torn by a crash (never acknowledged): replay stops there"
        : "reading log is corrupt: replay of that segment stops there, and what follows it is lost",
    );
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
    checkpoint === undefined && replayed.records > 0 && (replayed.firstSegment ?? 1) > 1;
  if (stateLost) {
    pipeline.markLossyWindowsPartial(input.latestAt + maxFutureMs, true);
    logger.error(
      "the reading log was replayed without its checkpoint: the windows open now lack earlier readings, and are emitted partial",
    );
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
  if (replayed.records > 0) checkpointer.save(now);
  input.tick(now);
  log.commit();
  return { replayed: replayed.records, unclean, markedPartial };
}
