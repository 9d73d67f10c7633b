/**
 * `brook cloud-sink`: subscribes at the cloud broker and upserts every result by id.
 * The PUBACK for a message is sent only after its rows are committed (mqtt.js sends it
 * when `handleMessage` calls back), so a sink crash loses nothing the broker still holds.
 */
import { gunzipSync } from "node:zlib";
import type { MqttClient } from "mqtt";
import {
  type Incoming,
  OUTCOME_COUNTER,
  type ResultStore,
  type SinkResult,
} from "./result-store.js";

export const SINK_TOPICS = ["brook/+/agg/+", "brook/+/alert/+", "brook/+/late"];

export interface SinkCounters {
  messages: number;
  inserted: number;
  updated: number;
  duplicates: number;
  conflicts: number;
  stale: number;
  rejected: number;
  storeErrors: number;
}

export function zeroCounters(): SinkCounters {
  return {
    messages: 0,
    inserted: 0,
    updated: 0,
    duplicates: 0,
    conflicts: 0,
    stale: 0,
    rejected: 0,
    storeErrors: 0,
  };
}

export interface CloudSinkOptions {
  client: MqttClient;
  store: ResultStore;
  now?: () => number;
  onRejected?: (topic: string, reason: string) => void;
  onConflict?: (id: string, revision: number) => void;
  /**
   * The store failed (disk full, file gone). The message is left unacknowledged, so the
   * broker keeps it; the caller should stop and reconnect later so it is redelivered.
   */
  onStoreError?: (err: Error) => void;
}

export class CloudSink {
  readonly counters: SinkCounters = zeroCounters();
  private readonly now: () => number;

  constructor(private readonly options: CloudSinkOptions) {
    this.now = options.now ?? Date.now;
    options.client.handleMessage = (packet, done) => {
      this.receive(packet.topic, packet.payload as Buffer).then(
        () => done(),
        (err: Error) => {
          // Not acknowledged: the broker keeps the message for the persistent session.
          this.counters.storeErrors++;
          options.onStoreError?.(err);
        },
      );
    };
  }

  /** Results received (stored or collapsed), as opposed to MQTT messages. */
  resultsReceived(): number {
    const c = this.counters;
    return c.inserted + c.updated + c.duplicates + c.conflicts + c.stale;
  }

  /**
   * Subscribes to every result topic; with a `group`, as a shared subscription
   * (`$share/<group>/…`), so several sinks split the load.
   */
  async subscribe(group?: string): Promise<void> {
    const topics =
      group === undefined ? SINK_TOPICS : SINK_TOPICS.map((t) => `$share/${group}/${t}`);
    const granted = await this.options.client.subscribeAsync(topics, { qos: 1 });
    const refused = granted.filter((g) => g.qos === 128);
    if (refused.length > 0)
      throw new Error(`the broker refused ${refused.map((g) => g.topic).join(", ")}`);
  }

  /**
   * One MQTT message: a result or a JSON array of them, perhaps gzip (by its magic bytes).
   * Its results and the counters are committed in one transaction (one upsert of the
   * batch); resolves once they are, rejects when the store failed.
   */
  async receive(topic: string, payload: Buffer): Promise<void> {
    const incoming: Incoming[] = [];
    let results: unknown[] = [];
    let rejected = 0;
    try {
      const text = payload[0] === 0x1f && payload[1] === 0x8b ? gunzipSync(payload) : payload;
      const parsed: unknown = JSON.parse(text.toString("utf8"));
      results = Array.isArray(parsed) ? parsed : [parsed];
    } catch {
      rejected = 1;
      this.options.onRejected?.(topic, "payload is neither JSON nor gzip of JSON");
    }
    for (const r of results) {
      if (isResult(r)) incoming.push({ result: r, body: JSON.stringify(r) });
      else {
        rejected++;
        this.options.onRejected?.(
          topic,
          "not a Brook result (needs string id, integer revision, string kind; string device/rule/key, number start/end, boolean partial)",
        );
      }
    }
    const outcomes = await this.options.store.write(
      incoming,
      { messages: 1, rejected },
      this.now(),
    );
    this.counters.messages++;
    this.counters.rejected += rejected;
    outcomes.forEach((outcome, i) => {
      this.counters[OUTCOME_COUNTER[outcome] as keyof SinkCounters]++;
      const r = (incoming[i] as Incoming).result;
      if (outcome === "conflict") this.options.onConflict?.(r.id, r.revision);
    });
  }
}

/**
 * What the store needs of a result, with the types it binds: a message that fails this is
 * rejected and counted, not mistaken for a store failure (which would stop the sink).
 */
function isResult(value: unknown): value is SinkResult {
  const r = value as Record<string, unknown> | null;
  if (r === null || typeof r !== "object" || Array.isArray(r)) return false;
  const optional = (v: unknown, type: "string" | "number" | "boolean") =>
    v === undefined || v === null || typeof v === type;
  return (
    typeof r.id === "string" &&
    typeof r.kind === "string" &&
    Number.isInteger(r.revision) &&
    optional(r.device, "string") &&
    optional(r.rule, "string") &&
    optional(r.key, "string") &&
    optional(r.start, "number") &&
    optional(r.end, "number") &&
    optional(r.partial, "boolean")
  );
}
