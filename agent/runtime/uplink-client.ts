/**
 * The uplink to the cloud broker: cloud-sync's Uplink over an MQTT client made from the
 * config — a persistent session (its in-flight QoS 1 state survives a reconnect), a
 * retained `offline` last will on the status topic, and no automatic reconnects (the
 * uplink's link-state machine does those, with backoff).
 */
import { readFileSync } from "node:fs";
import mqtt, { type IClientOptions } from "mqtt";
import type { Outbox } from "../../cloud-sync/outbox.js";
import { type LinkState, Uplink } from "../../cloud-sync/uplink.js";
import type { Clock } from "../../lib/clock.js";
import { parseByteSize } from "../../rules/duration.js";
import type { ResolvedConfig } from "../config/load.js";
import { type Logger, RateLimitedLog } from "./log.js";

type UplinkConfig = NonNullable<ResolvedConfig["uplink"]>;

export function createUplink(
  config: ResolvedConfig,
  up: UplinkConfig,
  outbox: Outbox,
  clock: Clock,
  logger: Logger,
): Uplink {
  const errors = new RateLimitedLog((f, m) => logger.warn(f, m), clock);
  const statusTopic = `brook/${config.device}/status`;
  const connected = (s: LinkState) => s === "draining" || s === "live";
  return new Uplink({
    outbox,
    client: mqtt.connect(up.url, clientOptions(config.device, up, statusTopic)),
    statusTopic,
    batchSize: up.batchSize,
    maxBatchBytes: parseByteSize(up.maxBatchBytes),
    maxInFlight: up.maxInFlight,
    compress: up.compress,
    bandwidthBytesPerSec: config.uplinkMaxBytesPerSecond,
    clock,
    // Connected/disconnected at info; the retry cycle while offline only at debug.
    onStateChange: (state, previous) =>
      logger[connected(state) !== connected(previous) ? "info" : "debug"](
        { state, previous },
        "uplink state",
      ),
    onError: (err) => errors.event({ err: err.message }, "uplink error"),
  });
}

function clientOptions(device: string, up: UplinkConfig, statusTopic: string): IClientOptions {
  const tls = up.tls;
  const v5 = up.protocol === "5";
  return {
    clientId: up.clientId ?? `brook-${device}`,
    username: up.username,
    password: up.password,
    protocolVersion: v5 ? 5 : 4,
    clean: false,
    properties: v5 ? { sessionExpiryInterval: 7 * 24 * 3600 } : undefined,
    will: { topic: statusTopic, payload: Buffer.from("offline"), qos: 1, retain: true },
    manualConnect: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ca: tls?.ca === undefined ? undefined : readFileSync(tls.ca),
    cert: tls?.cert === undefined ? undefined : readFileSync(tls.cert),
    key: tls?.key === undefined ? undefined : readFileSync(tls.key),
    servername: tls?.servername,
    rejectUnauthorized: tls?.rejectUnauthorized ?? true,
  };
}
