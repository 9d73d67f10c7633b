/**
 * An edge broker already on the device (mosquitto, say): the agent reads it as an MQTT
 * client with a persistent session, so the broker keeps readings for it while it restarts.
 */
import mqtt, { type MqttClient } from "mqtt";
import type { Clock } from "../../lib/clock.js";
import {
  EDGE_DRAIN_MS,
  type EdgeHandlers,
  type EdgeSource,
  type EdgeStart,
  type PublishDone,
} from "./edge.js";
import { type Logger, RateLimitedLog } from "./log.js";
import { holdPubacks } from "./mqtt-patches.js";

/** How long start-up waits for the broker before carrying on (the client keeps retrying). */
const FIRST_CONNECT_MS = 5_000;
const RESUBSCRIBE_MS = 5_000;
/** The publisher of every message, as the reading log records it: this broker (its packet ids number them). */
const EDGE_CLIENT = "edge";
/** Local outputs waiting in memory while the broker is away. */
export const LOCAL_QUEUE_MAX = 10_000;

export interface EdgeClientOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** the marker published at shutdown and waited for (the client subscribes to it) */
  drainTopic: string;
  clock: Clock;
  logger: Logger;
}

export class EdgeClient implements EdgeSource {
  readonly url: string;
  subscribed: Promise<boolean> = Promise.resolve(false);
  private client: MqttClient | undefined;
  private filters: readonly string[] = [];
  private drained: (() => void) | undefined;
  private stopping = false;
  private inPlace = false;

  get connected(): boolean {
    return this.inPlace && this.client?.connected === true;
  }

  constructor(private readonly options: EdgeClientOptions) {
    this.url = options.url;
  }

  async start(handlers: EdgeHandlers, filters: readonly string[], first: EdgeStart): Promise<void> {
    const { options } = this;
    this.filters = filters;
    const client = mqtt.connect(options.url, {
      clientId: options.clientId,
      // A persistent session: the broker keeps readings for us while we restart.
      clean: false,
      reconnectPeriod: 1_000,
      username: options.username,
      password: options.password,
    });
    this.client = client;
    const errors = new RateLimitedLog((f, m) => options.logger.warn(f, m), options.clock);
    // Each QoS 1 message's PUBACK waits for its release (the reading log's commit).
    const pubacks = holdPubacks(client);
    if (!pubacks.active)
      options.logger.warn(
        "this mqtt.js acknowledges edge messages before they are durable (agent/runtime/mqtt-patches.ts)",
      );
    client.on("message", (topic, payload, packet) => {
      if (topic === options.drainTopic) {
        this.drained?.();
        return;
      }
      const mid = packet.messageId ?? 0;
      const meta = { qos: packet.qos, dup: packet.dup, client: EDGE_CLIENT, mid };
      try {
        handlers.message(topic, payload, meta, packet.qos > 0 ? pubacks.hold(mid) : undefined);
      } catch (err) {
        handlers.failed(err, topic);
      }
    });
    client.on("error", (err) =>
      errors.event({ err: err.message, edge: options.url }, "edge broker connection error"),
    );
    // No Nagle on the edge connection: local outputs (alerts) must not wait for an ACK.
    client.on("connect", () =>
      (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true),
    );
    // In the same tick as the connect: no reading can reach the engine before `first` ran.
    first();
    this.subscribed = this.subscribeOnEveryConnect(client);
  }

  /**
   * Subscribes on every (re)connect; resolves true once the first subscription is in
   * place, or false if that takes longer than FIRST_CONNECT_MS (the client keeps retrying).
   */
  private subscribeOnEveryConnect(client: MqttClient): Promise<boolean> {
    const { clock, logger, drainTopic } = this.options;
    return new Promise((resolve) => {
      const timer = clock.setTimer(() => resolve(false), FIRST_CONNECT_MS);
      const subscribe = () => {
        client
          .subscribeAsync([...this.filters, drainTopic], { qos: 1 })
          .then((granted) => {
            const refused = granted.filter((g) => g.qos === 128);
            if (refused.length > 0)
              throw new Error(`the broker refused ${refused.map((g) => g.topic).join(", ")}`);
            logger.info(
              { edge: this.url, topics: this.filters, inProcess: false },
              "subscribed at the edge broker",
            );
            clock.clearTimer(timer);
            this.inPlace = true;
            resolve(true);
          })
          .catch((err: Error) => {
            logger.error(
              { err: err.message, retryInMs: RESUBSCRIBE_MS },
              "edge subscription failed",
            );
            clock.setTimer(() => {
              if (client.connected && !this.stopping) subscribe();
            }, RESUBSCRIBE_MS);
          });
      };
      client.on("connect", subscribe);
      if (client.connected) subscribe();
    });
  }

  /** After a reload: subscribe to new filters, drop those no source uses any more. */
  setFilters(filters: readonly string[]): void {
    const before = this.filters;
    this.filters = filters;
    const client = this.client;
    if (client === undefined || !client.connected) return; // the next connect subscribes to them
    const log = (err: Error) =>
      this.options.logger.error({ err: err.message }, "edge subscription change failed");
    const added = filters.filter((t) => !before.includes(t));
    const removed = before.filter((t) => !filters.includes(t));
    if (added.length > 0) client.subscribeAsync(added, { qos: 1 }).catch(log);
    if (removed.length > 0) client.unsubscribeAsync(removed).catch(log);
  }

  /**
   * While the broker is away, up to LOCAL_QUEUE_MAX results wait in the client's memory
   * (not across a crash: durable delivery is the outbox's job); beyond that, false.
   */
  publish(topic: string, payload: Buffer, done: PublishDone): boolean {
    const client = this.client;
    if (client === undefined || client.disconnecting) {
      done(new Error("the edge client is stopped"));
      return true;
    }
    if (!client.connected && client.queue.length >= LOCAL_QUEUE_MAX) return false;
    client.publish(topic, payload, { qos: 1 }, done);
    return true;
  }

  /** Queued local results waiting for the broker (for the refusal's log line). */
  get queued(): number {
    return this.client?.queue.length ?? 0;
  }

  async stopAccepting(): Promise<void> {
    this.stopping = true;
  }

  /**
   * Publishes a marker and waits for it: the broker delivers in order, so every reading it
   * accepted before has then arrived. Then the client ends: nothing more reaches the engine.
   */
  async drain(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    const { clock, drainTopic } = this.options;
    if (client.connected)
      await new Promise<void>((resolve) => {
        const timer = clock.setTimer(resolve, EDGE_DRAIN_MS);
        this.drained = () => {
          clock.clearTimer(timer);
          resolve();
        };
        client.publish(drainTopic, "", { qos: 1 });
      });
    await this.close();
  }

  async close(): Promise<void> {
    await this.client?.endAsync().catch(() => undefined);
  }
}
