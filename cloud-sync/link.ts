/**
 * The uplink's pure parts: the link-state machine as a transition table
 * (CONVENTIONS.md 7), reconnect backoff with full jitter, and a token bucket for the
 * bandwidth cap. Time and randomness come in as arguments.
 */

export type LinkState = "offline" | "connecting" | "draining" | "live";
export type LinkEvent = "connect" | "connected" | "failed" | "disconnected" | "backlog" | "drained";

/**
 * offline --connect--> connecting --connected--> draining --drained--> live
 * live --backlog--> draining; any connected state --disconnected--> offline;
 * connecting --failed--> offline (and a retry after backoff).
 */
export const TRANSITIONS: Readonly<Record<LinkState, Partial<Record<LinkEvent, LinkState>>>> = {
  offline: { connect: "connecting" },
  connecting: { connected: "draining", failed: "offline", disconnected: "offline" },
  draining: { drained: "live", disconnected: "offline", backlog: "draining" },
  live: { backlog: "draining", disconnected: "offline", drained: "live" },
};

/** The next state, or the same state when the event does not apply to it. */
export function transition(state: LinkState, event: LinkEvent): LinkState {
  return TRANSITIONS[state][event] ?? state;
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 60_000 };

/** "Full jitter": uniform in [0, min(max, base·2^attempt)], so a fleet does not reconnect in step. */
export function backoffDelay(
  attempt: number,
  random: () => number,
  options: BackoffOptions = DEFAULT_BACKOFF,
): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** A token bucket of `rate` bytes/s holding at most `burst` bytes. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes `bytes` if available and returns 0, else returns how long to wait (ms) before trying again. */
  take(bytes: number, now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    // A message larger than the burst goes once the bucket is full, rather than never.
    const need = Math.min(bytes, this.burst);
    if (this.tokens >= need) {
      this.tokens -= bytes;
      return 0;
    }
    return Math.ceil(((need - this.tokens) * 1000) / this.rate);
  }
}
