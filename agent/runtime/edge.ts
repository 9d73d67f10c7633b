/**
 * Where readings come from: the embedded broker (edge-embedded.ts) or an MQTT client of a
 * broker already on the device (edge-client.ts). Either hands each message on the agent's
 * filters to `message` with a way to release its acknowledgement, publishes the agent's
 * local results, and stops in three steps: no new sensor input, then every message
 * already accepted delivered, then closed.
 */
import type { MessageMeta } from "./durable-input.js";

export interface EdgeHandlers {
  /**
   * A message on one of the agent's filters; what it throws goes to `failed`. `release`
   * lets its publisher's acknowledgement go (undefined: there is none to give): until it
   * is called, the PUBACK waits, and with it the publisher's connection. Returns whether it
   * was a redelivery of a message already taken.
   */
  message(topic: string, payload: Buffer, meta: MessageMeta, release?: () => void): boolean;
  /** `message` threw (a bug): counted and logged by the agent, never thrown into the broker */
  failed(err: unknown, topic: string): void;
  /** A publisher's connection broke: the acknowledgements sent to it since `since` may not have arrived. */
  connectionBroke?(client: string, since: number): void;
}

/** Runs before the first message can arrive: the engine's saved state is restored there. */
export type EdgeStart = () => void;

/** How a local publish ended: published, or refused (with why). */
export type PublishDone = (err?: Error | null) => void;

export interface EdgeSource {
  /** the broker's URL, once started */
  readonly url: string;
  /** Starts taking messages on `filters`; `first` runs before any can arrive. */
  start(handlers: EdgeHandlers, filters: readonly string[], first: EdgeStart): Promise<void>;
  /** whether the agent's filters are in place (false: not within the first wait; retrying) */
  readonly subscribed: Promise<boolean>;
  /** whether messages come in now: the broker up, or reached and the filters in place */
  readonly connected: boolean;
  /**
   * Checks a user's password against the embedded broker's credentials file; undefined
   * when the broker has none (the HTTP endpoint then asks for no password either).
   */
  verifyUser?: ((user: string, password: string, done: (ok: boolean) => void) => void) | undefined;
  /** Replaces the filters the agent reads (a rules reload). */
  setFilters(filters: readonly string[]): void;
  /** The agent's own output topics, which no client may publish on (the embedded broker). */
  setOwnTopics?(templates: readonly string[]): void;
  /** Reads the embedded broker's credentials file again, if it changed (SIGHUP). */
  reloadCredentials?(): void;
  /**
   * Publishes a result at QoS 1 on the edge broker; `done` once the broker has it. Returns
   * false, without calling `done`, when the result cannot even wait (a full queue).
   */
  publish(topic: string, payload: Buffer, done: PublishDone): boolean;
  /** local results waiting for an absent broker (0 where none can wait) */
  readonly queued: number;
  /** Stops accepting sensor input: no message is acknowledged from now on that would not be processed. */
  stopAccepting(): Promise<void>;
  /**
   * Resolves once every message the broker accepted before has been handed over (a bounded
   * wait); after it, no message is handed over.
   */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** At shutdown, how long to wait for messages the edge broker has already accepted. */
export const EDGE_DRAIN_MS = 500;
