/**
 * An alert's lifecycle per detector and key, as a transition table (CONVENTIONS.md 7):
 *
 *   idle ──fire──▶ open            (alert emitted, revision 0)
 *   open ──fire──▶ open            (suppressed: the alert is ongoing)
 *   open ──quiet, before cooldown or clearAfter──▶ open
 *   open ──quiet, cooldown over and clearAfter quiet──▶ idle   (alert resolved, revision 1)
 *
 * `fire` is a reading whose score reaches the detector's threshold (0.5). `cooldown` is the
 * least time an alert stays open (re-fires are suppressed); `clearAfter` the quiet time,
 * since the last fire, after which it resolves. State lives in slots of the key's
 * Float64Array; times are event times.
 */
export type LifecycleState = "idle" | "open";
export type LifecycleEvent = "fire" | "quiet" | "quiet-done";
export type LifecycleAction = "open" | "suppress" | "resolve" | "none";

export const TRANSITIONS: Record<
  LifecycleState,
  Record<LifecycleEvent, [LifecycleState, LifecycleAction]>
> = {
  idle: { fire: ["open", "open"], quiet: ["idle", "none"], "quiet-done": ["idle", "none"] },
  open: {
    fire: ["open", "suppress"],
    quiet: ["open", "none"],
    "quiet-done": ["idle", "resolve"],
  },
};

/** Lifecycle slots: state (0 idle, 1 open), opened at, last fire at, readings since opened. */
export const LIFECYCLE_SLOTS = 4;
const STATE = 0;
const OPENED = 1;
const LAST_FIRE = 2;
const READINGS = 3;

export interface LifecyclePlan {
  readonly cooldownMs: number;
  /** the least number of readings (after the opening one) an alert stays open */
  readonly cooldownReadings: number;
  readonly clearAfterMs: number;
}

/** Applies one reading's event; returns what to do about it. */
export function lifecycleStep(
  plan: LifecyclePlan,
  slots: Float64Array,
  o: number,
  ts: number,
  fired: boolean,
): LifecycleAction {
  const state: LifecycleState = slots[o + STATE] === 1 ? "open" : "idle";
  const event: LifecycleEvent = fired
    ? "fire"
    : state === "open" &&
        ts - (slots[o + OPENED] as number) >= plan.cooldownMs &&
        (slots[o + READINGS] as number) >= plan.cooldownReadings &&
        ts - (slots[o + LAST_FIRE] as number) >= plan.clearAfterMs
      ? "quiet-done"
      : "quiet";
  const [next, action] = TRANSITIONS[state][event];
  slots[o + STATE] = next === "open" ? 1 : 0;
  if (action === "open") {
    slots[o + OPENED] = ts;
    slots[o + READINGS] = 0;
  } else if (next === "open") slots[o + READINGS] = (slots[o + READINGS] as number) + 1;
  if (fired) slots[o + LAST_FIRE] = ts;
  return action;
}

export function isOpen(slots: Float64Array, o: number): boolean {
  return slots[o + STATE] === 1;
}

/** When the open alert last fired. */
export function lastFiredAt(slots: Float64Array, o: number): number {
  return slots[o + LAST_FIRE] as number;
}

/** Closes an open alert whose key is being forgotten. */
export function forget(slots: Float64Array, o: number): void {
  slots[o + STATE] = 0;
}

/** When the open alert began (for its id and its resolution). */
export function openedAt(slots: Float64Array, o: number): number {
  return slots[o + OPENED] as number;
}
