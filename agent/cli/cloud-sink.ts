/**
 * `brook cloud-sink`: subscribe at the cloud broker and upsert every result by id into a
 * SQLite file, until a signal or a store failure; `--stats` prints the file's counters.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import mqtt from "mqtt";
import { CloudSink } from "../../cloud-sync/sink.js";
import { SinkStore } from "../../cloud-sync/sink-store.js";
import { systemClock } from "../../lib/clock.js";
import { BrookError } from "../errors.js";
import { createLogger, RateLimitedLog } from "../runtime/log.js";
import { stopRequested } from "../runtime/signals.js";
import { mustExist } from "./args.js";

interface SinkRunOptions {
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

async function runCloudSink(opts: SinkRunOptions, untilStopped: Promise<void>): Promise<void> {
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

function printSinkStats(file: string): void {
  mustExist(file, "cloud sink database");
  const store = new SinkStore(file);
  const s = store.stats();
  store.close();
  process.stdout.write(`${JSON.stringify({ file, ...s })}\n`);
}

export function register(program: Command): void {
  program
    .command("cloud-sink")
    .description("subscribe at the cloud broker and upsert every result by id into a SQLite file")
    .requiredOption("-d, --db <file>", "SQLite file to write")
    .option("-b, --broker <url>", "cloud broker URL, e.g. mqtt://127.0.0.1:1883")
    .option("-u, --username <name>", "broker username")
    .option("-p, --password <secret>", "broker password (or BROOK_SINK_PASSWORD)")
    .option(
      "--client-id <id>",
      "MQTT client id (several sinks need different ones)",
      "brook-cloud-sink",
    )
    .option(
      "--group <name>",
      "share the load with other sinks of this group (MQTT shared subscription)",
    )
    .option("--ca <file>", "TLS: trust this CA (for mqtts:// brokers with a private CA)")
    .option("--cert <file>", "TLS: client certificate")
    .option("--key <file>", "TLS: client key")
    .option("--stats", "print the database's counters and rows by kind, and exit")
    .action(async (opts: SinkRunOptions & { stats?: boolean; broker?: string }) => {
      if (opts.stats) {
        printSinkStats(opts.db);
        return;
      }
      if (opts.broker === undefined)
        throw new BrookError(
          "BROOK_ERR_USAGE",
          "cloud-sink: --broker <url> is required (or --stats)",
        );
      await runCloudSink(
        {
          ...opts,
          broker: opts.broker,
          password: opts.password ?? process.env.BROOK_SINK_PASSWORD,
        },
        stopRequested(),
      );
    });
}
