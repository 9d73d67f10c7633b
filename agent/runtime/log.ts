/** Logs are JSON lines on stderr (journald collects them); stdout is left to commands' own output. */
import { pino } from "pino";
import type { Clock } from "../../lib/clock.js";

export type Logger = pino.Logger;

export function createLogger(level = process.env.BROOK_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { app: "brook" } }, pino.destination({ fd: 2, sync: true }));
}

/**
 * Logs the first event at once, then at most one line per `intervalMs` saying how many
 * were suppressed, so a flood of bad payloads cannot flood the log.
 */
export class RateLimitedLog {
  private lastAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly log: (fields: object, msg: string) => void,
    private readonly clock: Pick<Clock, "now">,
    private readonly intervalMs = 5_000,
  ) {}

  event(fields: object, msg: string): void {
    const now = this.clock.now();
    if (now - this.lastAt < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.lastAt = now;
    this.log(
      this.suppressed > 0 ? { ...fields, suppressedSinceLast: this.suppressed } : fields,
      msg,
    );
    this.suppressed = 0;
  }
}
