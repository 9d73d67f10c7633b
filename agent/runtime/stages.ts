/**
 * The agent's stages made from its config and wired to each other: the files it keeps
 * (outbox, checkpoints), the edge source, the reading's pipeline and what it feeds (the
 * outbox's batcher, local publishes), the checkpointer and the rules reload. agent.ts
 * starts and stops them; nothing here listens, connects or starts a timer.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Histogram } from "prom-client";
import type { Outbox } from "../../cloud-sync/outbox.js";
import { SqliteOutbox } from "../../cloud-sync/sqlite-outbox.js";
import type { Clock } from "../../lib/clock.js";
import type { CompiledRules } from "../compile/load.js";
import type { ResolvedConfig } from "../config/load.js";
import { Batcher } from "./batcher.js";
import { Checkpointer, StateStore } from "./checkpoint.js";
import { DurableInput } from "./durable-input.js";
import type { EdgeSource } from "./edge.js";
import { EdgeClient } from "./edge-client.js";
import { EmbeddedEdge } from "./edge-embedded.js";
import { Intake } from "./intake.js";
import { LocalOutputs } from "./local-out.js";
import { type Logger, RateLimitedLog } from "./log.js";
import type { AgentCounters } from "./metrics.js";
import { Pipeline } from "./pipeline.js";
import { ReadingLog } from "./reading-log.js";
import { Redeliveries } from "./redelivery.js";
import { RulesReload } from "./rules-reload.js";

export interface Stages {
  readonly outbox: Outbox;
  /** undefined when the config turns it off */
  readonly log: ReadingLog | undefined;
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
  /** when the reading log commits: at the end of this turn of the event loop (default); tests step it */
  defer?: (fn: () => void) => void;
}

export function buildStages(ctx: StageContext): Stages {
  const { config, counters, clock, logger } = ctx;
  const warn = (f: object, m: string) => logger.warn(f, m);
  const outboxErrors = new RateLimitedLog((f, m) => logger.error(f, m), clock);
  mkdirSync(config.dataDir, { recursive: true });
  const outbox = new SqliteOutbox(join(config.dataDir, "outbox.db"), {
    synchronous: config.outbox.synchronous,
    quota: {
      maxRows: config.outbox.maxRows,
      maxBytes: config.outbox.maxBytes,
      maxAgeMs: config.outbox.maxAgeMs,
    },
  });
  let store: StateStore;
  try {
    store = new StateStore(join(config.dataDir, "state.db"));
  } catch (err) {
    outbox.close();
    throw err;
  }
  let input: DurableInput | undefined;
  const log =
    config.readingLog === undefined
      ? undefined
      : new ReadingLog({
          dir: join(config.dataDir, "log"),
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
  });
  input = new DurableInput(pipeline, log, redeliveries, counters, () => clock.now());
  const taken = input;
  const checkpointer = new Checkpointer(
    {
      store,
      intervalMs: config.state.checkpointIntervalMs,
      counters,
      logger,
      flushResults: () => batcher.flush(),
      snapshot: () => pipeline.snapshot(),
      log,
      redeliveries: () => (log === undefined ? undefined : redeliveries.snapshot()),
      qos0: () => taken.tookQos0,
    },
    clock.now(),
  );
  const edge = edgeSource(config, clock, logger);
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
            return { before, after: pipeline.engine.ruleNames() };
          },
        });
  return { outbox, log, input, store, batcher, pipeline, checkpointer, edge, reload, redeliveries };
}

function edgeSource(config: ResolvedConfig, clock: Clock, logger: Logger): EdgeSource {
  const drainTopic = `brook-internal/${config.device}/drain`;
  const { edge } = config;
  return edge.mode === "embedded"
    ? new EmbeddedEdge({ host: edge.host, port: edge.port, drainTopic, clock, logger })
    : new EdgeClient({
        url: edge.url,
        clientId: `brook-${config.device}-ingest`,
        username: edge.username,
        password: edge.password,
        drainTopic,
        clock,
        logger,
      });
}
