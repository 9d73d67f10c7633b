/**
 * `brook cloud-sink`: subscribe at the cloud broker and upsert every result by id into a
 * SQLite file or PostgreSQL (`--db postgres://…`), until a signal or a store failure;
 * `--stats` prints the store's counters.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import mqtt from "mqtt";
import type { ResultStore } from "../../cloud-sync/result-store.js";
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

/** Whether `db` names a PostgreSQL database rather than a SQLite file. */
function isPostgres(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/** The store `--db` names; pg is loaded only for PostgreSQL. */
async function openStore(db: string, sink: string): Promise<ResultStore> {
  if (!isPostgres(db)) return new SinkStore(db);
  const { PgStore } = await import("../../cloud-sync/pg-store.js");
  try {
    return await PgStore.open({ url: db, sink });
  } catch (err) {
    throw new BrookError(
      "BROOK_ERR_SINK_STORE",
      `cannot use the PostgreSQL database ${shown(db)}: ${(err as Error).message}`,
    );
  }
}

/** `--db` as it may be logged: a connection string without its password. */
function shown(db: string): string {
  return isPostgres(db) ? db.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@") : db;
}

async function runCloudSink(opts: SinkRunOptions, untilStopped: Promise<void>): Promise<void> {
  const logger = createLogger();
  const store = await openStore(opts.db, opts.clientId);
  const where = shown(opts.db);
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
    onStoreError: (err) => fail(new Error(`cannot write ${where}: ${err.message}`)),
  });
  client.on("connect", () => {
    sink.subscribe(opts.group).then(
      () => logger.info({ broker: opts.broker, db: where }, "cloud sink ready"),
      // Without its subscription the sink would receive nothing: stop, so a supervisor restarts it.
      (err: Error) => fail(new Error(`subscribe failed: ${err.message}`)),
    );
  });
  try {
    await Promise.race([untilStopped, failure]);
  } catch (err) {
    // Unacknowledged messages stay with the broker's session; a restart picks them up.
    await client.endAsync(true).catch(() => undefined);
    await store.close().catch(() => undefined);
    logger.error({ err: (err as Error).message, counters: sink.counters }, "cloud sink failed");
    throw new BrookError("BROOK_ERR_SINK_STORE", `cloud sink stopped: ${(err as Error).message}`);
  }
  await client.endAsync();
  await store.close();
  logger.info(sink.counters, "cloud sink stopped");
}

async function printSinkStats(db: string): Promise<void> {
  if (!isPostgres(db)) mustExist(db, "cloud sink database");
  const store = await openStore(db, "stats");
  const s = await store.stats();
  await store.close();
  process.stdout.write(
    `${JSON.stringify({ [isPostgres(db) ? "db" : "file"]: shown(db), ...s })}\n`,
  );
}

export function register(program: Command): void {
  program
    .command("cloud-sink")
    .description(
      "subscribe at the cloud broker and upsert every result by id into a SQLite file or PostgreSQL",
    )
    .requiredOption(
      "-d, --db <file|url>",
      "SQLite file to write, or postgres://USER@HOST:PORT/DB (password and TLS from PGPASSWORD, PGSSLMODE, … or the URL)",
    )
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
        await printSinkStats(opts.db);
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
