/**
 * The agent: its lifecycle (lifecycle.ts: starting → ready ⇄ reloading → stopping →
 * stopped) over its stages (stages.ts). A reading's path is the pipeline's: edge → intake
 * → engine → route → batcher | local publish. What is here starts the stages in order,
 * ticks processing time, and stops them in order.
 */
import type { Uplink } from "../../cloud-sync/uplink.js";
import { type Clock, systemClock, type TimerHandle } from "../../lib/clock.js";
import {
  writeAcknowledgementsTogether,
  writeWithoutNumberCache,
} from "../../lib/mqtt-packet-patches.js";
import { loadRules } from "../compile/load.js";
import type { CompiledRule } from "../compile/plan.js";
import { isLoopback, type ResolvedConfig } from "../config/load.js";
import { BrookError } from "../errors.js";
import { readiness } from "../live/readiness.js";
import { LiveRecorder } from "../live/recorder.js";
import { buildReport } from "../live/report.js";
import { LiveRoutes } from "../live/routes.js";
import type { Readiness, StatusReport } from "../live/status.js";
import { VERSION } from "../version.js";
import { type AgentStatus, agentStatus, outboxDepth } from "./agent-status.js";
import { type HttpEndpoint, startHttp } from "./http.js";
import { Lifecycle } from "./lifecycle.js";
import { createLogger, type Logger, RateLimitedLog } from "./log.js";
import { createRegistry, LoopLag, newAlertLatency, newCommitWait, newCounters } from "./metrics.js";
import { recoverState } from "./recovery.js";
import type { ReloadOutcome } from "./rules-reload.js";
import { buildStages, type Stages } from "./stages.js";

/** Processing time moves on for the engine (idle keys, silences) once a second. */
const TICK_MS = 1_000;
/** The event loop's lag is reported over periods of this many ticks. */
const LAG_TICKS = 10;

export interface AgentOptions {
  logger?: Logger;
  clock?: Clock;
  /** Reload the rules file when it changes on disk (default true; SIGHUP works either way). */
  watchRules?: boolean;
  /** Rules to run instead of the config's rules file. */
  rules?: readonly CompiledRule[];
}

export class Agent {
  readonly counters = newCounters();
  /** arrival → the edge broker's completion of each alert opened (brook_alert_latency_seconds) */
  readonly alertLatency = newAlertLatency();
  /** how long readings wait for the reading log's commit (brook_log_commit_wait_seconds) */
  private readonly commitWait = newCommitWait();
  private readonly lifecycle: Lifecycle;
  /** made at start (see startStages) */
  private stages!: Stages;
  private uplink: Uplink | undefined;
  private http: HttpEndpoint | undefined;
  private tickTimer: TimerHandle | undefined;
  private stopping: Promise<void> | undefined;
  private readonly expiryErrors: RateLimitedLog;
  private readonly processingErrors: RateLimitedLog;
  private checkpointScheduled = false;
  /** what the live view shows (agent/live): fed only while the HTTP endpoint is on */
  readonly live = new LiveRecorder();
  private liveRoutes: LiveRoutes | undefined;
  private readonly loopLag = new LoopLag();
  private startedAt = 0;
  private ticks = 0;

  private constructor(
    readonly config: ResolvedConfig,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly rules: ReturnType<typeof loadRules>,
  ) {
    this.lifecycle = new Lifecycle((state, previous) =>
      logger.debug({ state, previous }, "agent state"),
    );
    this.expiryErrors = new RateLimitedLog((f, m) => logger.error(f, m), clock);
    this.processingErrors = new RateLimitedLog((f, m) => logger.error(f, m), clock);
  }

  /** Starts every part; if one fails, whatever had started is stopped again before the error is thrown. */
  static async start(config: ResolvedConfig, options: AgentOptions = {}): Promise<Agent> {
    const rules =
      options.rules === undefined
        ? loadRules(config.rulesFile)
        : { rules: options.rules, sources: [] };
    const logger = options.logger ?? createLogger();
    const agent = new Agent(config, logger, options.clock ?? systemClock, rules);
    try {
      await agent.startStages(options.watchRules !== false);
    } catch (err) {
      agent.lifecycle.fire("failed");
      logger.error({ err: (err as Error).message }, "agent start failed");
      await agent.stop(0).catch(() => undefined);
      throw err;
    }
    return agent;
  }

  private async startStages(watchRules: boolean): Promise<void> {
    const { config, logger, counters } = this;
    // mqtt.js only for an MQTT client: an external edge broker, an uplink.
    const EdgeClient =
      config.edge.mode === "external" ? (await import("./edge-client.js")).EdgeClient : undefined;
    const uplinkModule =
      config.uplink === undefined ? undefined : await import("./uplink-client.js");
    writeWithoutNumberCache();
    writeAcknowledgementsTogether();
    this.startedAt = this.clock.now();
    this.loopLag.start();
    this.stages = buildStages({
      observer: config.http.enabled ? this.live : undefined,
      EdgeClient,
      config,
      rules: this.rules,
      counters,
      alertLatency: this.alertLatency,
      commitWait: this.commitWait,
      clock: this.clock,
      logger,
      committed: () => this.uplink?.kick(),
      wantsCheckpoint: () => this.checkpointSoon(),
    });
    const { edge, input, pipeline, batcher, reload } = this.stages;
    await edge.start(
      {
        message: (topic, payload, meta, release) => input.message(topic, payload, meta, release),
        connectionBroke: (client, since) => input.connectionBroke(client, since),
        failed: (err, topic) => this.processingFailed(err, topic),
      },
      pipeline.filters(),
      () => this.recover(),
    );
    if (config.uplink !== undefined && uplinkModule !== undefined) {
      this.uplink = uplinkModule.createUplink(
        config,
        config.uplink,
        this.stages.outbox,
        this.clock,
        logger,
      );
      this.uplink.start();
    }
    if (config.http.enabled) this.http = await this.startHttp();
    if (!(await edge.subscribed))
      logger.warn({ edge: edge.url }, "edge broker not reachable yet; retrying every second");
    // Stopped while it started: nothing more is started.
    if (this.lifecycle.state !== "starting") return;
    batcher.start();
    this.live.rulesLoaded(pipeline.engine.ruleNames(), this.clock.now());
    this.scheduleTick();
    if (watchRules) reload?.watch(() => this.reloadRules());
    if (this.uplink === undefined) logger.warn("no uplink configured: results stay in the outbox");
    this.lifecycle.fire("started");
    logger.info(
      {
        device: config.device,
        edge: edge.url,
        http: this.http?.port,
        rules: pipeline.engine.ruleNames(),
        dataDir: config.dataDir,
      },
      "agent ready",
    );
  }

  /** Before the first message: the engine back where it was (recovery.ts). */
  private recover(): void {
    recoverState(
      this.stages,
      this.logger,
      this.counters,
      this.clock.now(),
      this.config.maxFutureMs,
      (err, topic) => this.processingFailed(err, topic),
    );
  }

  /** A bug must not take the agent (and every sensor's readings) down: counted, logged, and on to the next message. */
  private processingFailed(err: unknown, topic: string): void {
    this.counters.processingErrors++;
    this.processingErrors.event(
      { err: err instanceof Error ? (err.stack ?? err.message) : String(err), topic },
      "processing a message failed; it is skipped",
    );
  }

  /** The reading log is half full: a checkpoint at the end of this turn truncates it. */
  private checkpointSoon(): void {
    if (this.checkpointScheduled) return;
    this.checkpointScheduled = true;
    setImmediate(() => {
      this.checkpointScheduled = false;
      if (this.lifecycle.state === "ready") this.stages.checkpointer.save(this.clock.now());
    });
  }

  private startHttp(): Promise<HttpEndpoint> {
    const { pipeline, outbox, log, input } = this.stages;
    const registry = createRegistry(
      this.counters,
      {
        readingLog: () =>
          log === undefined
            ? undefined
            : { counters: log.counters, bytes: log.size, held: input.held },
        outboxDepth: () => outboxDepth(this.stages),
        outboxDrops: () => outbox.stats(this.clock.now()).drops as Record<string, number>,
        uplinkState: () => this.uplink?.state ?? "disabled",
        openWindows: () => pipeline.engine.openWindows(),
        engine: () => pipeline.engine.counters,
        stateBytes: () => pipeline.engine.stateBytes(),
        loopLagMs: () => this.loopLag.last,
      },
      this.alertLatency,
      this.commitWait,
    );
    const { host, port } = this.config.http;
    const routes = new LiveRoutes({
      recorder: this.live,
      status: () => this.report(),
      ready: () => this.readiness(),
      verifyUser: this.stages.edge.verifyUser,
      exposed: !isLoopback(host),
    });
    this.liveRoutes = routes;
    return startHttp(
      host,
      port,
      registry,
      () => this.status(),
      (req, res) => routes.handle(req, res),
    );
  }

  /** What `/status`, the live page and `brook status` show. */
  report(): StatusReport {
    const now = this.clock.now();
    const stats = this.stages.outbox.stats(now);
    return buildReport({
      device: this.config.device,
      version: VERSION,
      startedAt: this.startedAt,
      now,
      status: this.status(),
      stateBudgetBytes: this.config.state.maxBytes,
      outbox: { bytes: stats.bytes, oldestAgeMs: stats.oldestAgeMs, drops: stats.drops },
      recorder: this.live,
      loopLagMs: this.loopLag.last,
      ready: this.readiness(),
    });
  }

  /** Ready once the broker, the rules and the outbox are up (`/readyz`); else why not. */
  readiness(): Readiness {
    return readiness(this.lifecycle.state, this.stages);
  }

  get edgeUrl(): string {
    return this.stages.edge.url;
  }

  get httpPort(): number | undefined {
    return this.http?.port;
  }

  status(): AgentStatus {
    return agentStatus(this.lifecycle.state, this.stages, this.counters, this.uplink);
  }

  /** Reads the embedded broker's credentials file again if it changed (SIGHUP; it is also looked at every 2 s). */
  reloadCredentials(): void {
    this.stages?.edge.reloadCredentials?.();
  }

  /**
   * Reloads the rules file (on a change of the file, or SIGHUP). An invalid file is
   * rejected and the running rules stay; a valid one replaces them at once, between two
   * readings (see Pipeline.swap). Returns the problems of a rejected file.
   */
  reloadRules(): ReloadOutcome {
    const { reload } = this.stages;
    if (reload === undefined) return { ok: false, problems: ["no rules file to reload"] };
    if (!this.lifecycle.fire("reload"))
      return { ok: false, problems: [`the agent is ${this.lifecycle.state}`] };
    try {
      const outcome = reload.reload();
      // The log is never replayed across a reload: its readings were taken under other rules.
      if (outcome.ok) this.stages.checkpointer.save(this.clock.now());
      this.live.rulesLoaded(this.stages.pipeline.engine.ruleNames(), this.clock.now(), {
        ok: outcome.ok,
        problems: outcome.ok ? [] : outcome.problems,
      });
      return outcome;
    } finally {
      this.lifecycle.fire("reloaded");
    }
  }

  /** Once a second: flush idle keys, write held results, expire old ones; every checkpoint interval: save engine state. */
  private scheduleTick(): void {
    this.tickTimer = this.clock.setTimer(() => {
      const now = this.clock.now();
      this.stages.input.tick(now);
      // Results held in memory since the last tick, not acknowledged yet, are written; then
      // what is too old dropped (each tried whether or not the other failed).
      for (const step of [
        () => this.stages.outbox.persist(now, true),
        () => this.stages.outbox.expire(now),
      ])
        try {
          step();
        } catch (err) {
          this.expiryErrors.event({ err: (err as Error).message }, "outbox write or expiry failed");
        }
      this.stages.checkpointer.due(now);
      if (++this.ticks % LAG_TICKS === 0) this.loopLag.roll();
      // The live view's figures of the second, and its pages' update (only while it is served).
      if (this.liveRoutes !== undefined) {
        this.live.sample(
          now,
          this.counters.readings,
          outboxDepth(this.stages),
          this.uplink?.state ?? "disabled",
        );
        this.liveRoutes.tick();
      }
      this.scheduleTick();
    }, TICK_MS);
  }

  /**
   * Stops cleanly: no new readings are accepted, those already accepted are processed, the
   * open windows are checkpointed (they resume on the next start), every result is
   * committed to the outbox, and the uplink gets `drainMs` to deliver it. Rejects if
   * results could not be committed.
   */
  stop(drainMs = 1_000): Promise<void> {
    this.lifecycle.fire("stop");
    this.stopping ??= this.shutdown(drainMs);
    return this.stopping;
  }

  private async shutdown(drainMs: number): Promise<void> {
    // A start that failed before its stages were made has nothing open (buildStages closes
    // what it opened when it fails).
    if (this.stages === undefined) {
      this.lifecycle.fire("stopped");
      return;
    }
    const { edge, input, log, batcher, checkpointer, reload, outbox, store } = this.stages;
    if (this.tickTimer !== undefined) this.clock.clearTimer(this.tickTimer);
    batcher.stop();
    reload?.stop();
    await edge.stopAccepting();
    await edge.drain();
    const held = input.dropWaiting();
    if (held.qos0 + held.qos1 > 0)
      this.logger.warn(
        held,
        "stopping with messages held for a full reading log: not acknowledged (QoS 1 ones come again; QoS 0 ones are lost, brook_messages_lost_total, and the windows open emitted partial)",
      );
    // Every result committed first (a second try inside), then the state that produced them.
    batcher.flush();
    checkpointer.save(this.clock.now(), true);
    if (this.uplink !== undefined) {
      if (!(await this.uplink.waitIdle(drainMs)))
        this.logger.info(
          { outboxDepth: outbox.depth() },
          "stopping with results in the outbox; they are sent on the next start",
        );
      await this.uplink.stop();
    }
    // What the outbox still held after its last try at closing (the checkpoint failed with
    // it, and the cloud did not acknowledge it meanwhile) counts too.
    const unwritten = batcher.pending;
    outbox.close();
    const unwrittenHeld = outbox.heldRows();
    store.close();
    log?.close();
    this.liveRoutes?.close();
    this.loopLag.stop();
    await this.http?.close();
    await edge.close();
    this.lifecycle.fire("stopped");
    if (unwritten + unwrittenHeld > 0)
      throw new BrookError(
        "BROOK_ERR_OUTBOX_UNWRITABLE",
        `${unwritten + unwrittenHeld} results could not be written to the outbox; engine state was not checkpointed` +
          (log === undefined
            ? ", and they are lost"
            : ": the reading log is replayed from the last checkpoint at the next start, which makes them again"),
      );
    this.logger.info("agent stopped");
  }
}
