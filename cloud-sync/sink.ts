/**
 * `brook cloud-sink`: subscribes at the cloud broker and upserts every result by id.
 * The PUBACK for a message is sent only after its rows are committed (mqtt.js sends it
 * when `handleMessage` calls back), so a sink crash loses nothing the broker still holds.
 */
import { gunzipSync } from "node:zlib";
import type { MqttClient } from "mqtt";
import type { SinkResult, SinkStore, UpsertOutcome } from "./sink-store.js";

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
  store: SinkStore;
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
      try {
        this.receive(packet.topic, packet.payload as Buffer);
        done();
      } catch (err) {
        // Not acknowledged: the broker keeps the message for the persistent session.
        this.counters.storeErrors++;
        options.onStoreError?.(err as Error);
      }
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
   * Its results and the counters are committed in one transaction.
   */
  receive(topic: string, payload: Buffer): void {
    const delta = zeroCounters();
    delta.messages = 1;
    let parsed: unknown;
    try {
      const text = payload[0] === 0x1f && payload[1] === 0x8b ? gunzipSync(payload) : payload;
      parsed = JSON.parse(text.toString("utf8"));
    } catch {
      this.reject(topic, "payload is neither JSON nor gzip of JSON", delta);
      return;
    }
    const results = Array.isArray(parsed) ? parsed : [parsed];
    const store = this.options.store;
    const conflicts: SinkResult[] = [];
    const now = this.now();
    store.transaction(() => {
      for (const r of results) {
        if (!isResult(r)) {
          delta.rejected++;
          this.options.onRejected?.(
            topic,
            "not a Brook result (needs string id, integer revision, string kind; string device/rule/key, number start/end, boolean partial)",
          );
          continue;
        }
        const outcome = store.upsert(r, JSON.stringify(r), now);
        delta[COUNTER[outcome]]++;
        if (outcome === "conflict") conflicts.push(r);
      }
      store.addStats(delta);
    });
    for (const key of Object.keys(delta) as (keyof SinkCounters)[])
      this.counters[key] += delta[key];
    for (const r of conflicts) this.options.onConflict?.(r.id, r.revision);
  }

  private reject(topic: string, reason: string, delta: SinkCounters): void {
    delta.rejected++;
    this.options.store.addStats(delta);
    for (const key of Object.keys(delta) as (keyof SinkCounters)[])
      this.counters[key] += delta[key];
    this.options.onRejected?.(topic, reason);
  }
}

const COUNTER: Record<UpsertOutcome, keyof SinkCounters> = {
  inserted: "inserted",
  updated: "updated",
  duplicate: "duplicates",
  conflict: "conflicts",
  stale: "stale",
};

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
