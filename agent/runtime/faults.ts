/**
 * Faults put in on purpose, for the crash tests only: `BROOK_FAULT=commit:7,checkpoint:2`
 * kills the process with SIGKILL in the middle of the 7th reading-log commit (half of its
 * bytes written) and of the 2nd checkpoint (its snapshot saved, the log not yet truncated);
 * `checkpoint-part:3` in the 3rd checkpoint's save itself, its first part written and the
 * transaction not committed: points a random kill from outside would rarely hit. Unset (always, in production): nothing.
 */
export type FaultPoint = "commit" | "checkpoint" | "checkpoint-part";
const POINTS: readonly string[] = ["commit", "checkpoint", "checkpoint-part"];

const plan = parse(process.env.BROOK_FAULT);
const seen: Record<FaultPoint, number> = { commit: 0, checkpoint: 0, "checkpoint-part": 0 };

function parse(spec: string | undefined): Partial<Record<FaultPoint, number>> {
  const out: Partial<Record<FaultPoint, number>> = {};
  for (const part of (spec ?? "").split(",")) {
    const [point, n] = part.split(":");
    if (point !== undefined && POINTS.includes(point) && Number(n) > 0)
      out[point as FaultPoint] = Number(n);
  }
  return out;
}

/** Whether this pass through `point` is the one to fail at. */
export function faultAt(point: FaultPoint): boolean {
  const at = plan[point];
  return at !== undefined && ++seen[point] === at;
}

/** Dies as `kill -9` would: no cleanup, no flush. */
export function die(): never {
  process.kill(process.pid, "SIGKILL");
  throw new Error("SIGKILL did not stop the process");
}
