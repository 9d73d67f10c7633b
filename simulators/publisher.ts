/**
 * Publishes a message stream on an MQTT client at a pace: at the stream's own event-time
 * pace (×speed), as fast as the broker takes it, or at a target rate in messages per
 * second. The rate is held by sending, at each turn of the event loop, every message due
 * by the elapsed time — so a slow turn is made up by the next, and the total stays on
 * target over any second while the client keeps up. The client is injected; a full
 * socket (or, at QoS 1, too many unacknowledged messages) pauses sending, never drops.
 */
import type { MqttClient } from "mqtt";
import type { SimMessage } from "./stream.js";

export type Pace =
  | { readonly kind: "realtime"; readonly speed: number }
  | { readonly kind: "max" }
  | { readonly kind: "rate"; readonly perSecond: number };

/** `--speed`: "realtime", "max", or a factor such as "x10" (or "10x", "10"); undefined if none. */
export function parseSpeed(text: string): Pace | undefined {
  if (text === "max") return { kind: "max" };
  if (text === "realtime") return { kind: "realtime", speed: 1 };
  const m = /^x?(\d+(\.\d+)?)x?$/.exec(text);
  const factor = m === null ? Number.NaN : Number(m[1]);
  return factor > 0 ? { kind: "realtime", speed: factor } : undefined;
}

export interface PublishStats {
  sent: number;
  elapsedMs: number;
  /** messages sent in each whole second since the start */
  perSecond: number[];
  /** QoS 1 messages never acknowledged (the run was stopped while the broker was away) */
  unacknowledged: number;
  /**
   * ms sending waited for the broker: the client's socket full (the broker not reading as
   * fast as messages were sent) or, at QoS 1, the window of unacknowledged messages full
   */
  brokerWaitMs: number;
}

export interface PublishOptions {
  readonly pace: Pace;
  readonly qos: 0 | 1;
  /** resolves when the user asks to stop */
  readonly stop: Promise<void>;
  /** ms since an arbitrary origin (performance.now) */
  readonly now?: () => number;
  readonly onSecond?: (second: number, sent: number) => void;
  /** each message as it is handed to the client */
  readonly onPublish?: (message: SimMessage) => void;
}

/** Messages sent per turn of the event loop at most, so the socket gets to write between turns. */
const BATCH = 512;
/** Unacknowledged QoS 1 messages allowed in flight before sending waits. */
const QOS1_WINDOW = 1_000;
/** After a stop, how long the last messages may take to be written or acknowledged. */
const DRAIN_MS = 5_000;

export async function publishStream(
  next: () => SimMessage | undefined,
  client: MqttClient,
  options: PublishOptions,
): Promise<PublishStats> {
  const now = options.now ?? (() => performance.now());
  const { pace, qos } = options;
  let stopped = false;
  // Whatever the loop waits for (a timer, the socket, acknowledgements), a stop ends it.
  let interrupt: (() => void) | undefined;
  const waitUntil = (arm: (resolve: () => void) => () => void) =>
    new Promise<void>((resolve) => {
      const disarm = arm(resolve);
      interrupt = () => {
        disarm();
        resolve();
      };
    });
  void options.stop.then(() => {
    stopped = true;
    interrupt?.();
  });
  let pending = 0;
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  const done = (err?: Error | null) => {
    pending--;
    if (err) failure ??= err;
    if (wake !== undefined && pending <= (qos === 1 ? QOS1_WINDOW / 2 : 0)) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  const acknowledged = (resolve: () => void) => {
    wake = resolve;
    return () => {
      wake = undefined;
    };
  };
  const perSecond: number[] = [];
  const t0 = now();
  let sent = 0;
  let brokerWaitMs = 0;
  // Taken from the stream, not yet sent: on a stop it is simply not sent.
  let message = next();
  while (message !== undefined && !stopped) {
    if (failure !== undefined) throw failure;
    const elapsed = now() - t0;
    const second = Math.floor(elapsed / 1000);
    while (perSecond.length <= second) {
      if (perSecond.length > 0)
        options.onSecond?.(perSecond.length - 1, perSecond.at(-1) as number);
      perSecond.push(0);
    }
    let waitMs = 0;
    for (let n = 0; n < BATCH && message !== undefined; n++) {
      if (pace.kind === "rate") {
        if (sent >= Math.floor((elapsed * pace.perSecond) / 1000)) {
          waitMs = Math.max(1, ((sent + 1) * 1000) / pace.perSecond - elapsed);
          break;
        }
      } else if (pace.kind === "realtime" && message.at / pace.speed > elapsed) {
        waitMs = Math.max(1, message.at / pace.speed - elapsed);
        break;
      }
      pending++;
      client.publish(message.topic, message.payload, { qos }, done);
      options.onPublish?.(message);
      sent++;
      perSecond[second] = (perSecond[second] as number) + 1;
      message = next();
    }
    if (stopped) break;
    if (pending > (qos === 1 ? QOS1_WINDOW : 0)) {
      const from = now();
      await waitUntil(acknowledged);
      brokerWaitMs += now() - from;
    } else if (waitMs > 0)
      await waitUntil((resolve) => {
        const timer = setTimeout(resolve, Math.min(waitMs, 100));
        return () => clearTimeout(timer);
      });
    else await new Promise<void>((resolve) => setImmediate(resolve));
  }
  // The last messages are written (QoS 0) or acknowledged (QoS 1) before the report; after
  // a stop, for DRAIN_MS at most (the broker may be gone).
  const drainUntil = stopped ? now() + DRAIN_MS : Number.POSITIVE_INFINITY;
  while (pending > 0 && failure === undefined && now() < drainUntil)
    await waitUntil((resolve) => {
      const disarm = acknowledged(resolve);
      const timer = setTimeout(resolve, 100);
      return () => {
        disarm();
        clearTimeout(timer);
      };
    });
  if (failure !== undefined) throw failure;
  return { sent, elapsedMs: now() - t0, perSecond, unacknowledged: pending, brokerWaitMs };
}

export interface RateSummary {
  sent: number;
  seconds: number;
  achieved: number;
  /** over each 10 s window after the first second: the lowest and highest rate */
  window10s: { min: number; max: number } | undefined;
  /** seconds sending waited for the broker (PublishStats.brokerWaitMs) */
  brokerWaitSeconds: number;
}

/** The achieved rate, and its spread over 10 s windows (the first second, a ramp, left out). */
export function summarizeRate(stats: PublishStats): RateSummary {
  const seconds = stats.elapsedMs / 1000;
  const full = stats.perSecond.slice(1, Math.floor(seconds));
  let window10s: RateSummary["window10s"];
  for (let i = 0; i + 10 <= full.length; i++) {
    const rate = full.slice(i, i + 10).reduce((a, b) => a + b, 0) / 10;
    window10s = {
      min: Math.min(window10s?.min ?? rate, rate),
      max: Math.max(window10s?.max ?? rate, rate),
    };
  }
  return {
    sent: stats.sent,
    seconds,
    achieved: stats.sent / seconds,
    window10s,
    brokerWaitSeconds: stats.brokerWaitMs / 1000,
  };
}
