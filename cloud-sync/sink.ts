/**
 * `brook cloud-sink`: subscribes at the cloud broker and upserts every result by id.
 * The PUBACK for a message is sent only after its rows are committed (mqtt.js sends it
 * when `handleMessage` calls back), so a sink crash loses nothing the broker still holds.
 */
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
  readonly counters: SinkCounters = {
    messages: 0,
    inserted: 0,
    updated: 0,
    duplicates: 0,
    conflicts: 0,
    stale: 0,
    rejected: 0,
    storeErrors: 0,
  };
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

  async subscribe(): Promise<void> {
    await this.options.client.subscribeAsync(SINK_TOPICS, { qos: 1 });
  }

  receive(topic: string, payload: Buffer): void {
    this.counters.messages++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString("utf8"));
    } catch {
      this.reject(topic, "payload is not JSON");
      return;
    }
    const results = Array.isArray(parsed) ? parsed : [parsed];
    for (const r of results) {
      if (!isResult(r)) {
        this.reject(topic, "not a Brook result (needs string id, integer revision, string kind)");
        continue;
      }
      const outcome = this.options.store.upsert(r, JSON.stringify(r), this.now());
      this.counters[COUNTER[outcome]]++;
      if (outcome === "conflict") this.options.onConflict?.(r.id, r.revision);
    }
  }

  private reject(topic: string, reason: string): void {
    this.counters.rejected++;
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

function isResult(value: unknown): value is SinkResult {
  const r = value as SinkResult | null;
  return (
    r !== null &&
    typeof r === "object" &&
    typeof r.id === "string" &&
    typeof r.kind === "string" &&
    Number.isInteger(r.revision)
  );
}
