/**
 * Wall-clock access goes through a Clock so that flush ticks, backoff and idle
 * timeouts can be driven by a virtual clock in tests (CONVENTIONS.md 2). The one time
 * type of the whole project: the agent, the uplink and the sink take it; lib/ imports
 * nothing, and every folder may import it.
 */
/** Opaque: whatever the clock that made it needs to cancel it. */
export type TimerHandle = unknown;

export interface Clock {
  /**
   * Processing time, ms since the epoch, steady: it advances with the monotonic clock and
   * ignores steps of the system's clock (an NTP sync, a hand-set date), so durations measured
   * with it (idle timeouts, intervals, rates) stay true. It starts at the wall clock.
   */
  now(): number;
  /** The system's wall clock, ms since the epoch, steps and all. */
  wall(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/**
 * "Now" for event time — a reading's arrival time when it carries none, and the bound of
 * maxFuture: the later of the steady processing time and the wall clock. A wall clock
 * stepped forward (a device that booted with a stale date and then synced) is followed; one
 * stepped back is not, so readings are never stamped in a past the agent already passed.
 * `now`: the processing time just read, when the caller has it (one clock read fewer).
 */
export function eventNow(clock: Clock, now = clock.now()): number {
  return Math.max(now, clock.wall());
}

const WALL_AT_START = Date.now();
const MONO_AT_START = performance.now();

export const systemClock: Clock = {
  now: () => WALL_AT_START + (performance.now() - MONO_AT_START),
  wall: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A clock for tests: time moves only when `advance` is called. */
export class VirtualClock implements Clock {
  private current: number;
  /** how far the simulated wall clock has been stepped from processing time */
  private wallStep = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  wall(): number {
    return this.current + this.wallStep;
  }

  /** Steps the wall clock (as an NTP sync or a person would); processing time goes on steadily. */
  stepWall(ms: number): void {
    this.wallStep += ms;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.current + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Moves time forward, firing due timers in time order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= target && (due === undefined || entry[1].at < due[1].at)) due = entry;
      }
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.current = due[1].at;
      due[1].fn();
    }
    this.current = target;
  }
}
