/**
 * Results published on the edge broker (a rule's `outputs.local`, and alerts by default):
 * a live feed for local consumers, at QoS 1. Every publish the broker refuses, or that
 * cannot even wait for an absent broker, is counted and logged, never dropped silently;
 * `localPublished` counts the broker's acknowledgements, and an alert's opening is timed
 * from its reading's arrival (brook_alert_latency_seconds).
 */
import type { Histogram } from "prom-client";
import type { EdgeSource } from "./edge.js";
import type { RateLimitedLog } from "./log.js";
import type { AgentCounters } from "./metrics.js";

export class LocalOutputs {
  edge: EdgeSource | undefined;

  constructor(
    private readonly counters: AgentCounters,
    private readonly alertLatency: Histogram,
    private readonly errors: RateLimitedLog,
  ) {}

  /** `arrivedAt` (performance.now()) of the reading whose alert this opens, if it does. */
  publish(topic: string, payload: Buffer, arrivedAt: number | undefined): void {
    const edge = this.edge;
    if (edge === undefined) {
      this.failed(new Error("the edge broker is not started"), topic);
      return;
    }
    const waiting = edge.publish(topic, payload, (err) => {
      if (err) this.failed(err, topic);
      else {
        this.counters.localPublished++;
        if (arrivedAt !== undefined)
          this.alertLatency.observe((performance.now() - arrivedAt) / 1000);
      }
    });
    if (!waiting) {
      this.counters.dropped.local_queue_full++;
      this.errors.event(
        { topic, queued: edge.queued },
        "local publish dropped: the edge broker is away and the queue is full",
      );
    }
  }

  private failed(err: Error, topic: string): void {
    this.counters.dropped.local_publish_failed++;
    this.errors.event({ err: err.message, topic }, "local publish failed");
  }
}
