/**
 * The agent's counters are plain numbers on the hot path; prom-client reads them only
 * when /metrics is scraped.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EngineCounters } from "../engine/engine.js";
import type { DeadLetterReason } from "../ingest/common.js";
import type { RefusalReason } from "./edge-auth.js";
import type { LogCounters } from "./reading-log.js";

export interface AgentCounters {
  readings: number;
  deadLetters: Record<DeadLetterReason | "bad_topic" | "future", number>;
  windowsClosed: number;
  partialWindows: number;
  checkpoints: number;
  /** rules files swapped in, and rejected (the old rules kept running) */
  reloads: number;
  reloadsRejected: number;
  /** results published on the edge broker by rules with `outputs.local` (acknowledged by it) */
  localPublished: number;
  /** messages whose processing threw (a bug in Brook): each is logged, and the agent carries on */
  processingErrors: number;
  /** QoS 1 messages sent again (DUP) after the agent had taken them: acknowledged, not counted twice */
  redelivered: number;
  /** what the embedded broker refused, by reason (docs/SECURITY.md) */
  refused: Record<RefusalReason, number>;
  /** publishes slowed down to a client's publish rate (limits.publishRate) */
  throttled: number;
  /**
   * messages the embedded broker did not keep, by reason: deliveries to persistent
   * subscribers beyond limits.maxQueuedBytes, retained messages beyond limits.maxRetainedBytes
   */
  edgeDropped: { queue_full: number; retained_full: number };
  /** results dropped, by reason; every drop has a named counter */
  dropped: { outbox_unwritable: number; local_publish_failed: number; local_queue_full: number };
  /**
   * QoS 0 messages lost before they were taken (never acknowledged: QoS 0 has none), by
   * reason: held for a full or failing reading log when the agent stopped, or beyond what
   * may be held (their windows are emitted partial)
   */
  lost: { held_at_stop: number; held_overflow: number };
  /** reading log segments whose replay stopped at a corrupt record, and the bytes after it */
  logCorrupt: { segments: number; bytes: number };
}

export function newCounters(): AgentCounters {
  return {
    readings: 0,
    deadLetters: {
      bad_topic: 0,
      bad_value: 0,
      bad_ts: 0,
      bad_payload: 0,
      bad_sensor: 0,
      future: 0,
    },
    windowsClosed: 0,
    partialWindows: 0,
    checkpoints: 0,
    reloads: 0,
    reloadsRejected: 0,
    localPublished: 0,
    processingErrors: 0,
    redelivered: 0,
    refused: {
      auth: 0,
      acl_publish: 0,
      acl_subscribe: 0,
      own_topic: 0,
      connections: 0,
      packet_too_large: 0,
      revoked: 0,
    },
    edgeDropped: { queue_full: 0, retained_full: 0 },
    throttled: 0,
    dropped: { outbox_unwritable: 0, local_publish_failed: 0, local_queue_full: 0 },
    lost: { held_at_stop: 0, held_overflow: 0 },
    logCorrupt: { segments: 0, bytes: 0 },
  };
}

/**
 * Detection latency: from a reading's message reaching the agent to the edge broker's
 * completion of the alert it opened on the local topic — for the embedded broker, once
 * the alert is written to every subscriber's connection; for an external one, its PUBACK.
 */
export function newAlertLatency(): Histogram {
  return new Histogram({
    name: "brook_alert_latency_seconds",
    help: "From a reading's arrival to the edge broker's completion (embedded: written to its subscribers; external: PUBACK) of the alert it opened",
    buckets: [
      0.00025, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 1,
    ],
    registers: [],
  });
}

/** How long a reading waits in memory for the commit that makes it durable: what a crash can lose of QoS 0. */
export function newCommitWait(): Histogram {
  return new Histogram({
    name: "brook_log_commit_wait_seconds",
    help: "How long the oldest reading of each reading-log commit waited for it (what a crash could lose of QoS 0 readings)",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [],
  });
}

export interface Gauges {
  /** the reading log's counters, its bytes since the last checkpoint, and the messages held waiting for it */
  readingLog(): { counters: LogCounters; bytes: number; held: number } | undefined;
  outboxDrops(): Record<string, number>;
  engine(): EngineCounters;
  stateBytes(): number;
  outboxDepth(): number;
  uplinkState(): string;
  openWindows(): number;
  /** the event loop's lag over the last period (LoopLag) */
  loopLagMs(): { p99: number; max: number };
}

/** The resolution of the event loop's lag measurement (ms). */
const LAG_RESOLUTION_MS = 10;

/**
 * How late the event loop runs (perf_hooks' monitorEventLoopDelay): the p99 and the
 * largest delay beyond the timer's period, over the last period (the agent rolls it every
 * 10 s). A busy loop delays everything: readings' PUBACKs, alerts, the uplink.
 */
export class LoopLag {
  private readonly histogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private rolled: { p99: number; max: number } | undefined;

  /** The last period's figures; before the first period ends, those so far. */
  get last(): { p99: number; max: number } {
    return this.rolled ?? this.figures();
  }

  start(): void {
    this.histogram.enable();
  }

  stop(): void {
    this.histogram.disable();
  }

  /** Ends a period: its figures become `last`. */
  roll(): void {
    this.rolled = this.figures();
    this.histogram.reset();
  }

  private figures(): { p99: number; max: number } {
    const h = this.histogram;
    const late = (ns: number) =>
      Number.isFinite(ns) ? Math.max(0, Math.round((ns / 1e6 - LAG_RESOLUTION_MS) * 100) / 100) : 0;
    return h.count === 0 ? { p99: 0, max: 0 } : { p99: late(h.percentile(99)), max: late(h.max) };
  }
}

const LINK_STATES = ["offline", "connecting", "draining", "live", "disabled"];

export function createRegistry(
  counters: AgentCounters,
  gauges: Gauges,
  alertLatency: Histogram,
  commitWait?: Histogram,
): Registry {
  const registry = new Registry();
  registry.registerMetric(alertLatency);
  if (commitWait !== undefined) registry.registerMetric(commitWait);
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  counter("brook_readings_total", "Readings decoded and processed", () => counters.readings);
  counter("brook_windows_closed_total", "Window results emitted", () => counters.windowsClosed);
  counter(
    "brook_partial_windows_total",
    "Windows emitted before they were complete (marked partial)",
    () => counters.partialWindows,
  );
  counter(
    "brook_late_readings_total",
    "Readings that arrived after their windows were final",
    () => gauges.engine().late,
  );
  counter("brook_alerts_total", "Alerts raised by detectors", () => gauges.engine().alerts);
  counter(
    "brook_evicted_keys_total",
    "Keys evicted over the state budget (open windows emitted partial)",
    () => gauges.engine().evictedKeys,
  );
  counter(
    "brook_idle_keys_total",
    "Keys flushed after their idle timeout",
    () => gauges.engine().idleKeys,
  );
  counter("brook_checkpoints_total", "Engine checkpoints written", () => counters.checkpoints);
  counter("brook_rules_reloads_total", "Rules files swapped in", () => counters.reloads);
  counter(
    "brook_rules_reloads_rejected_total",
    "Rules files rejected on reload (old rules kept)",
    () => counters.reloadsRejected,
  );
  counter(
    "brook_local_published_total",
    "Results published on the edge broker (rules with outputs.local)",
    () => counters.localPublished,
  );
  counter(
    "brook_processing_errors_total",
    "Messages whose processing failed with an error (a bug: each is logged)",
    () => counters.processingErrors,
  );
  counter(
    "brook_redelivered_total",
    "QoS 1 messages sent again after the agent had taken them (acknowledged, not counted twice)",
    () => counters.redelivered,
  );
  const log = () => gauges.readingLog();
  counter("brook_log_commits_total", "Reading log commits", () => log()?.counters.commits ?? 0);
  counter(
    "brook_log_commit_failures_total",
    "Reading log commits that failed (input held, acknowledgements wait, retried)",
    () => log()?.counters.failedCommits ?? 0,
  );
  counter(
    "brook_log_backpressure_total",
    "Times the reading log stopped taking input (full, or failing)",
    () => log()?.counters.backpressure ?? 0,
  );
  new Gauge({
    name: "brook_log_bytes",
    help: "Reading log bytes since the last checkpoint (bound: readingLog.maxBytes)",
    registers: [registry],
    collect() {
      this.set(log()?.bytes ?? 0);
    },
  });
  new Gauge({
    name: "brook_log_held_messages",
    help: "Messages held, unacknowledged, while the reading log takes nothing",
    registers: [registry],
    collect() {
      this.set(log()?.held ?? 0);
    },
  });
  /** A counter with one label, read from a record of counts at scrape time. */
  const labelled = (
    name: string,
    help: string,
    label: string,
    read: () => Record<string, number>,
  ) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, n] of Object.entries(read())) this.inc({ [label]: value }, n);
      },
    });
  labelled(
    "brook_dead_letters_total",
    "Messages refused (undecodable, or stamped too far in the future), by reason",
    "reason",
    () => counters.deadLetters,
  );
  labelled("brook_dropped_total", "Results dropped, by reason", "reason", () => counters.dropped);
  labelled(
    "brook_messages_lost_total",
    "QoS 0 messages lost before they were taken (held for a full or failing reading log), by reason",
    "reason",
    () => counters.lost,
  );
  counter(
    "brook_log_corrupt_segments_total",
    "Reading log segments whose replay stopped at a corrupt record (moved aside; windows emitted partial)",
    () => counters.logCorrupt.segments,
  );
  counter(
    "brook_log_corrupt_bytes_total",
    "Bytes of reading log segments after a corrupt record, not replayed",
    () => counters.logCorrupt.bytes,
  );
  labelled(
    "brook_edge_refused_total",
    "What the embedded broker refused: connections, packets, publishes and subscriptions, by reason",
    "reason",
    () => counters.refused,
  );
  labelled(
    "brook_edge_dropped_total",
    "Messages the embedded broker did not keep: queued deliveries beyond limits.maxQueuedBytes, retained messages beyond limits.maxRetainedBytes",
    "reason",
    () => counters.edgeDropped,
  );
  counter(
    "brook_edge_throttled_total",
    "Publishes slowed down to their client's publish rate (limits.publishRate)",
    () => counters.throttled,
  );
  labelled(
    "brook_outbox_dropped_total",
    "Results dropped by the outbox quota, by priority",
    "priority",
    () => gauges.outboxDrops(),
  );
  new Gauge({
    name: "brook_outbox_depth",
    help: "Records waiting in the outbox",
    registers: [registry],
    collect() {
      this.set(gauges.outboxDepth());
    },
  });
  new Gauge({
    name: "brook_state_bytes",
    help: "Accounted bytes of window state (budget: state.maxBytes)",
    registers: [registry],
    collect() {
      this.set(gauges.stateBytes());
    },
  });
  new Gauge({
    name: "brook_open_windows",
    help: "Windows currently open",
    registers: [registry],
    collect() {
      this.set(gauges.openWindows());
    },
  });
  new Gauge({
    name: "brook_uplink_state",
    help: "1 for the uplink's current state",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const now = gauges.uplinkState();
      for (const s of LINK_STATES) this.set({ state: s }, s === now ? 1 : 0);
    },
  });
  new Gauge({
    name: "brook_event_loop_lag_seconds",
    help: "How late the agent's event loop ran over the last 10 s: its p99 (quantile 0.99) and its largest delay (quantile 1)",
    labelNames: ["quantile"],
    registers: [registry],
    collect() {
      const lag = gauges.loopLagMs();
      this.set({ quantile: "0.99" }, lag.p99 / 1000);
      this.set({ quantile: "1" }, lag.max / 1000);
    },
  });
  return registry;
}
