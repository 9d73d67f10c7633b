/** `brook cloud-sink` as a process: connect, subscribe, upsert until a signal or a store failure. */
import { readFileSync } from "node:fs";
import mqtt from "mqtt";
import { CloudSink } from "../../cloud-sync/sink.js";
import { SinkStore } from "../../cloud-sync/sink-store.js";
import { systemClock } from "../clock.js";
import { BrookError } from "../errors.js";
import { createLogger, RateLimitedLog } from "./log.js";

export interface SinkRunOptions {
  broker: string;
  db: string;
  username?: string;
  password?: string;
  clientId: string;
  group?: string;
  /** TLS: files of the CA to trust, and a client certificate and key */
  ca?: string;
  cert?: string;
  key?: string;
}

export async function runCloudSink(
  opts: SinkRunOptions,
  untilStopped: Promise<void>,
): Promise<void> {
  const logger = createLogger();
  const store = new SinkStore(opts.db);
  const client = mqtt.connect(opts.broker, {
    clientId: opts.clientId,
    username: opts.username,
    password: opts.password,
    // A persistent session: the broker keeps results for the sink while it is down.
    clean: false,
    reconnectPeriod: 1_000,
    ca: opts.ca === undefined ? undefined : readFileSync(opts.ca),
    cert: opts.cert === undefined ? undefined : readFileSync(opts.cert),
    key: opts.key === undefined ? undefined : readFileSync(opts.key),
  });
  const warn = (f: object, m: string) => logger.warn(f, m);
  const connectionErrors = new RateLimitedLog(warn, systemClock);
  const rejected = new RateLimitedLog(warn, systemClock);
  const conflicts = new RateLimitedLog(warn, systemClock);
  client.on("error", (err) =>
    connectionErrors.event({ err: err.message }, "cloud broker connection error"),
  );
  let fail: (err: Error) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const sink = new CloudSink({
    client,
    store,
    onRejected: (topic, reason) => rejected.event({ topic, reason }, "rejected message"),
    onConflict: (id, revision) =>
      conflicts.event(
        { id, revision },
        "conflict: same id and revision, different content; kept the first",
      ),
    onStoreError: (err) => fail(new Error(`cannot write ${opts.db}: ${err.message}`)),
  });
  client.on("connect", () => {
    sink.subscribe(opts.group).then(
      () => logger.info({ broker: opts.broker, db: opts.db }, "cloud sink ready"),
      // Without its subscription the sink would receive nothing: stop, so a supervisor restarts it.
      (err: Error) => fail(new Error(`subscribe failed: ${err.message}`)),
    );
  });
  try {
    await Promise.race([untilStopped, failure]);
  } catch (err) {
    // Unacknowledged messages stay with the broker's session; a restart picks them up.
    await client.endAsync(true).catch(() => undefined);
    store.close();
    logger.error({ err: (err as Error).message, counters: sink.counters }, "cloud sink failed");
    throw new BrookError("BROOK_ERR_SINK_STORE", `cloud sink stopped: ${(err as Error).message}`);
  }
  await client.endAsync();
  store.close();
  logger.info(sink.counters, "cloud sink stopped");
}
