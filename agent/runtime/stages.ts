/**
 * The agent's stages made from its config and wired to each other: the files it keeps
 * (outbox, checkpoints), the edge source, the reading's pipeline and what it feeds (the
 * outbox's batcher, local publishes), the checkpointer and the rules reload. agent.ts
 * starts and stops them; nothing here listens, connects or starts a timer.
 */
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import type { Histogram } from "prom-client";
import type { Outbox } from "../../cloud-sync/outbox.js";
import { SqliteOutbox } from "../../cloud-sync/sqlite-outbox.js";
import type { Clock } from "../../lib/clock.js";
import type { CompiledRules } from "../compile/load.js";
import { isLoopback, type ResolvedConfig } from "../config/load.js";
import { Batcher } from "./batcher.js";
import { Checkpointer, StateStore } from "./checkpoint.js";
import { DurableInput } from "./durable-input.js";
import type { EdgeSource } from "./edge.js";
import { EdgeAuth, type RefusalReason } from "./edge-auth.js";
import type { EdgeClient } from "./edge-client.js";
import { type EdgeGuard, EmbeddedEdge } from "./edge-embedded.js";
import { Intake } from "./intake.js";
import { LocalOutputs } from "./local-out.js";
import { type Logger, RateLimitedLog } from "./log.js";
import type { AgentCounters } from "./metrics.js";
import { CredentialsFile } from "./passwords.js";
import { Pipeline, type PipelineObserver } from "./pipeline.js";
import { ReadingLog } from "./reading-log.js";
import { Redeliveries } from "./redelivery.js";
import { RulesReload } from "./rules-reload.js";

export interface Stages {
  readonly outbox: Outbox;
  /** undefined when the config turns it off */
  readonly log: ReadingLog | undefined;
  /** the log's directory (recovery reads what it holds even when the log is off now) */
  readonly logDir: string;
  readonly input: DurableInput;
  readonly store: StateStore;
  readonly batcher: Batcher;
  readonly pipeline: Pipeline;
  readonly checkpointer: Checkpointer;
  readonly edge: EdgeSource;
  /** undefined when the config names no rules file */
  readonly reload: RulesReload | undefined;
  readonly redeliveries: Redeliveries;
}

export interface StageContext {
  config: ResolvedConfig;
  rules: CompiledRules;
  counters: AgentCounters;
  alertLatency: Histogram;
  /** the reading log's commit waits (brook_log_commit_wait_seconds) */
  commitWait?: Histogram;
  clock: Clock;
  logger: Logger;
  /** each commit to the outbox gives the uplink something to send */
  committed: () => void;
  /** the reading log is half full: a checkpoint would truncate it */
  wantsCheckpoint: () => void;
  /**
   * The external edge's client class, loaded only when the config names an external broker:
   * mqtt.js is not loaded by an agent that needs no MQTT client (docs/BENCHMARKS.md, footprint).
   */
  EdgeClient?: typeof EdgeClient;
  /** sees each reading and result (the live view) */
  observer?: PipelineObserver;
  /** when the reading log commits: at the end of this turn of the event loop (default); tests step it */
  defer?: (fn: () => void) => void;
}

/**
 * Results held in memory before the outbox writes them: at most these, and one still
 * unacknowledged 100–250 ms after it came is written. What a crash takes from memory (the
 * batcher's 50 ms before write-behind) the log's replay makes again.
 */
const WRITE_BEHIND = { maxRows: 10_000, maxBytes: 4 * 1024 * 1024, holdMs: 100 };

/** Writes what the outbox holds in memory; false (logged) when it could not. */
function persisted(outbox: Outbox, now: number, errors: RateLimitedLog): boolean {
  try {
    outbox.persist(now);
    return true;
  } catch (err) {
    errors.event({ err: (err as Error).message }, "outbox write failed");
    return false;
  }
}

export function buildStages(ctx: StageContext): Stages {
  const { config, counters, clock, logger } = ctx;
  // Before anything is opened: a failure here leaves nothing to close.
  if (config.edge.mode === "external" && ctx.EdgeClient === undefined) missingClient();
  const warn = (f: object, m: string) => logger.warn(f, m);
  const outboxErrors = new RateLimitedLog((f, m) => logger.error(f, m), clock);
  mkdirSync(config.dataDir, { recursive: true });
  const outbox = openOrMoveAside(
    join(config.dataDir, "outbox.db"),
    "the outbox",
    logger,
    (file) =>
      new SqliteOutbox(file, {
        synchronous: config.outbox.synchronous,
        quota: {
          maxRows: config.outbox.maxRows,
          maxBytes: config.outbox.maxBytes,
          maxAgeMs: config.outbox.maxAgeMs,
        },
        // With the reading log on, a result the cloud acknowledges within 100 ms or so
        // is never written: after a crash, the log's replay makes again those not written.
        writeBehind: config.readingLog === undefined ? undefined : WRITE_BEHIND,
      }),
  );
  let store: StateStore;
  try {
    store = openOrMoveAside(join(config.dataDir, "state.db"), "the checkpoint", logger, (file) => {
      const opened = new StateStore(file);
      opened.check(); // reads it through: a corrupt one fails here, not at recovery
      return opened;
    });
  } catch (err) {
    outbox.close();
    throw err;
  }
  let input: DurableInput | undefined;
  const logDir = join(config.dataDir, "log");
  const log =
    config.readingLog === undefined
      ? undefined
      : new ReadingLog({
          dir: logDir,
          maxBytes: config.readingLog.maxBytes,
          sync: config.readingLog.sync,
          clock,
          logger,
          wantsCheckpoint: ctx.wantsCheckpoint,
          resumed: () => input?.resume(),
          defer: ctx.defer,
          committed:
            ctx.commitWait === undefined ? undefined : (ms) => ctx.commitWait?.observe(ms / 1000),
        });
  const redeliveries = new Redeliveries();
  const batcher = new Batcher({
    outbox,
    clock,
    inputsDurable: log === undefined ? undefined : () => log.commit(),
    committed: ctx.committed,
    failed: (err, pending) =>
      outboxErrors.event({ err: err.message, pending }, "outbox write failed"),
    dropped: () => counters.dropped.outbox_unwritable++,
    auditFile: process.env.BROOK_OUTBOX_AUDIT_FILE,
  });
  const local = new LocalOutputs(counters, ctx.alertLatency, new RateLimitedLog(warn, clock));
  const pipeline = new Pipeline({
    device: config.device,
    maxStateBytes: config.state.maxBytes,
    maxFutureMs: config.maxFutureMs,
    rules: ctx.rules.rules,
    intake: new Intake(ctx.rules.sources, counters, new RateLimitedLog(warn, clock)),
    batcher,
    local,
    counters,
    futureReadings: new RateLimitedLog(warn, clock),
    observer: ctx.observer,
  });
  input = new DurableInput(pipeline, log, redeliveries, counters, clock, config.maxFutureMs);
  const taken = input;
  const checkpointer = new Checkpointer(
    {
      store,
      intervalMs: config.state.checkpointIntervalMs,
      counters,
      logger,
      // Every result before the checkpoint written: the log before it is deleted.
      flushResults: () => batcher.flush() && persisted(outbox, clock.now(), outboxErrors),
      snapshot: () => pipeline.snapshot(),
      log,
      redeliveries: () => (log === undefined ? undefined : redeliveries.snapshot()),
      qos0: () => taken.tookQos0,
    },
    clock.now(),
  );
  const edge = edgeSource(ctx);
  local.edge = edge;
  const reload =
    config.rulesFile === undefined
      ? undefined
      : new RulesReload({
          file: config.rulesFile,
          clock,
          logger,
          counters,
          apply: (rules) => {
            const before = pipeline.engine.ruleNames();
            pipeline.swap(rules.rules, rules.sources);
            edge.setFilters(pipeline.filters());
            edge.setOwnTopics?.(ownTopics(rules));
            return { before, after: pipeline.engine.ruleNames() };
          },
        });
  return {
    outbox,
    log,
    logDir,
    input,
    store,
    batcher,
    pipeline,
    checkpointer,
    edge,
    reload,
    redeliveries,
  };
}

function edgeSource(ctx: StageContext): EdgeSource {
  const { config, clock, logger, counters } = ctx;
  const drainTopic = `brook-internal/${config.device}/drain`;
  const { edge } = config;
  return edge.mode === "embedded"
    ? new EmbeddedEdge({
        host: edge.host,
        port: edge.port,
        guard: edgeGuard(edge, clock, logger, counters, ctx.rules),
        drainTopic,
        clock,
        logger,
      })
    : new (ctx.EdgeClient ?? missingClient())({
        url: edge.url,
        clientId: `brook-${config.device}-ingest`,
        username: edge.username,
        password: edge.password,
        drainTopic,
        clock,
        logger,
      });
}

function missingClient(): never {
  throw new Error("an external edge broker needs StageContext.EdgeClient");
}

/** The embedded broker's authentication, ACL, TLS and limits, from the config (docs/SECURITY.md). */
function edgeGuard(
  edge: Extract<ResolvedConfig["edge"], { mode: "embedded" }>,
  clock: Clock,
  logger: Logger,
  counters: AgentCounters,
  rules: CompiledRules,
): EdgeGuard {
  const refusals = new RateLimitedLog((f, m) => logger.warn(f, m), clock);
  const refused = (reason: RefusalReason, client?: string, topic?: string) => {
    counters.refused[reason]++;
    refusals.event({ reason, client, topic }, "edge broker refused a client");
  };
  const credentials =
    edge.passwords === undefined ? undefined : new CredentialsFile(edge.passwords);
  const auth = new EdgeAuth({
    passwords: credentials?.check,
    clientCerts: edge.tls?.requireClientCert === true,
    allowAnonymous: edge.allowAnonymous,
    acl: edge.acl,
    refused,
  });
  auth.setOwnTopics(ownTopics(rules));
  const tls = edge.tls;
  return {
    auth,
    credentials,
    limits: {
      maxConnections: edge.limits.maxConnections,
      maxPacketBytes: edge.limits.maxPacketBytes,
      refused: (reason, remote) => refused(reason, remote),
    },
    kept: {
      maxQueuedBytes: edge.limits.maxQueuedBytes,
      maxRetainedBytes: edge.limits.maxRetainedBytes,
      dropped: (reason) => counters.edgeDropped[reason]++,
    },
    plainHost: tls?.plain === "loopback" && !isLoopback(edge.host) ? "127.0.0.1" : undefined,
    revoked: (client) => refused("revoked", client),
    tls:
      tls === undefined
        ? undefined
        : {
            port: tls.port,
            cert: readFileSync(tls.cert),
            key: readFileSync(tls.key),
            ca: tls.ca === undefined ? undefined : readFileSync(tls.ca),
            requireClientCert: tls.requireClientCert,
          },
    publishRate: edge.limits.publishRate,
    throttled: () => counters.throttled++,
  };
}

/** The topic templates of the rules' local outputs: the agent's own topics. */
function ownTopics(rules: CompiledRules): string[] {
  return rules.rules.flatMap((r) =>
    [r.outputs?.local, r.outputs?.localAlerts].filter((t): t is string => t !== undefined),
  );
}

/** What SQLite says of a file that is not a database, or a damaged one. */
const CORRUPT = /SQLITE_(CORRUPT|NOTADB)|not a database|malformed/i;

/**
 * Opens a SQLite file; one that is corrupt is moved aside (`<file>.corrupt-<time>`, with its
 * WAL), a fresh one started in its place, and that said loudly: the agent runs on rather
 * than stopping at every start.
 */
function openOrMoveAside<T>(
  file: string,
  what: string,
  logger: Logger,
  open: (file: string) => T,
): T {
  try {
    return open(file);
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    if (!CORRUPT.test(`${code} ${(err as Error).message}`)) throw err;
    const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    for (const suffix of ["", "-wal", "-shm"])
      if (existsSync(file + suffix)) renameSync(file + suffix, aside + suffix);
    logger.error(
      { file, movedTo: aside, err: (err as Error).message },
      `${what} is corrupt: moved aside, and a fresh one started (what it held is not read)`,
    );
    return open(file);
  }
}
