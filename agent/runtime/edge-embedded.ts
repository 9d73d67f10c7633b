/**
 * The embedded edge broker: aedes on a TCP server, with the agent subscribed in-process
 * (LocalSubscriber: no socket, no client, no second parse of a reading).
 */
import type { Aedes } from "aedes";
import type { Clock } from "../../lib/clock.js";
import { publishInProcess } from "./aedes-patches.js";
import { type EmbeddedBroker, LocalSubscriber, startEmbeddedBroker } from "./broker.js";
import {
  EDGE_DRAIN_MS,
  type EdgeHandlers,
  type EdgeSource,
  type EdgeStart,
  type PublishDone,
} from "./edge.js";
import type { Logger } from "./log.js";

export interface EmbeddedEdgeOptions {
  host: string;
  port: number;
  /** where the drain marker is published */
  drainTopic: string;
  clock: Clock;
  logger: Logger;
}

export class EmbeddedEdge implements EdgeSource {
  url = "";
  subscribed: Promise<boolean> = Promise.resolve(false);
  private broker: EmbeddedBroker | undefined;
  /** the broker, from before it listens (state restored then may publish local results) */
  private aedes: Aedes | undefined;
  private local: LocalSubscriber | undefined;

  constructor(private readonly options: EmbeddedEdgeOptions) {}

  async start(handlers: EdgeHandlers, filters: readonly string[], first: EdgeStart): Promise<void> {
    // Subscribed and restored before the broker listens: no reading comes before either.
    this.broker = await startEmbeddedBroker(
      this.options.host,
      this.options.port,
      "edge",
      (aedes) => {
        this.aedes = aedes;
        this.local = new LocalSubscriber(aedes, handlers.message, handlers.failed);
        this.subscribed = this.local.add(filters).then(() => {
          this.options.logger.info(
            { edge: this.url, topics: filters, inProcess: true },
            "subscribed at the edge broker",
          );
          return true;
        });
        first();
      },
    );
    this.url = this.broker.url;
  }

  setFilters(filters: readonly string[]): void {
    const local = this.local;
    if (local === undefined) return;
    const before = local.filters;
    const log = (err: Error) =>
      this.options.logger.error({ err: err.message }, "edge subscription change failed");
    local.add(filters.filter((f) => !before.includes(f))).catch(log);
    local.remove(before.filter((f) => !filters.includes(f))).catch(log);
  }

  /**
   * In-process: no TCP round trip to itself. aedes routes a QoS 1 message after a step of
   * its persistence (a promise), so a result on a topic a source reads comes back in after
   * this routing, never inside it.
   */
  publish(topic: string, payload: Buffer, done: PublishDone): boolean {
    const aedes = this.aedes;
    if (aedes === undefined || aedes.closed) done(new Error("the embedded broker is closed"));
    else publishInProcess(aedes, topic, payload, 1, done);
    return true;
  }

  /** in-process: nothing ever waits */
  readonly queued = 0;

  async stopAccepting(): Promise<void> {
    await this.broker?.stopAccepting();
  }

  /**
   * Delivery in-process is synchronous, so a marker's publish completes after every reading
   * routed before it; at QoS 1 it is routed after the QoS 1 readings accepted before it,
   * which wait on the broker's persistence first (a QoS 0 marker would overtake them).
   * Then the filters go: nothing more reaches the engine (a sensor's last will, published
   * as its connection closed).
   */
  async drain(): Promise<void> {
    const { aedes, local } = this;
    if (aedes === undefined || local === undefined) return;
    const { clock, drainTopic } = this.options;
    await new Promise<void>((resolve) => {
      const timer = clock.setTimer(resolve, EDGE_DRAIN_MS);
      publishInProcess(aedes, drainTopic, Buffer.alloc(0), 1, () => {
        clock.clearTimer(timer);
        resolve();
      });
    });
    await local.remove(local.filters).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.broker?.close();
  }
}
