/**
 * The agent's runtime wiring — the one place where sockets, files and timers meet the pure
 * engine: edge broker → (in-process subscription, or an MQTT client for an external broker)
 * → decode → engine → outbox (batched) → uplink.
 */
import { createHash } from "node:crypto";
import { appendFileSync, type FSWatcher, mkdirSync, readFileSync, watch } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Aedes } from "aedes";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import {
  type Outbox,
  type OutboxRecord,
  Priority,
  type PriorityLevel,
} from "../../cloud-sync/outbox.js";
import { SqliteOutbox } from "../../cloud-sync/sqlite-outbox.js";
import { type LinkState, Uplink } from "../../cloud-sync/uplink.js";
import { parseByteSize } from "../../rules/duration.js";
import {
  type CompiledRule,
  type CompiledSource,
  DEFAULT_ALERT_TOPIC,
  DEFAULT_RULES,
  loadRulesFile,
  type OutputPlan,
} from "../../rules/load.js";
import { expandOutputTopic } from "../../rules/topic.js";
import { formatProblem } from "../../rules/validate-yaml.js";
import { type Clock, systemClock, type TimerHandle } from "../clock.js";
import type { ResolvedConfig } from "../config/load.js";
import { Engine, type EngineCounters } from "../engine/engine.js";
import type { EngineOutput } from "../engine/types.js";
import { BrookError } from "../errors.js";
import { decodeJsonReading, INGEST_TOPIC } from "../ingest/decode.js";
import { decodeBySources } from "../ingest/formats.js";
import {
  type EmbeddedBroker,
  LocalSubscriber,
  publishInProcess,
  startEmbeddedBroker,
} from "./broker.js";
import { type HttpEndpoint, startHttp } from "./http.js";
import { createLogger, type Logger, RateLimitedLog } from "./log.js";
import { type AgentCounters, createRegistry, newAlertLatency, newCounters } from "./metrics.js";
import { StateStore } from "./state-store.js";

/** Results wait at most this long in memory before their batch is committed to the outbox. */
const OUTBOX_FLUSH_MS = 50;
const OUTBOX_BATCH = 1_000;
/** While the outbox cannot be written (disk full), at most this many results wait in memory. */
const PENDING_MAX = 100_000;
/** How long start-up waits for an external edge broker before carrying on and retrying. */
const EDGE_FIRST_CONNECT_MS = 5_000;
const EDGE_RESUBSCRIBE_MS = 5_000;
/** At shutdown, how long to wait for messages the edge broker has already accepted. */
const EDGE_DRAIN_MS = 500;
const TICK_MS = 1_000;
/** Local outputs waiting in memory while the edge broker is away. */
const LOCAL_QUEUE_MAX = 10_000;
/** Editors write a file in several steps; reload once they are done. */
const RELOAD_DEBOUNCE_MS = 200;

export interface AgentOptions {
  logger?: Logger;
  clock?: Clock;
  /** Reload the rules file when it changes on disk (default true; SIGHUP works either way). */
  watchRules?: boolean;
  /** Rules to run instead of the config's rules file. */
  rules?: readonly CompiledRule[];
}

export interface AgentStatus {
  counters: AgentCounters;
  outboxDepth: number;
  openWindows: number;
  engine: EngineCounters;
  stateBytes: number;
  uplink: LinkState | "disabled";
  /** results sent and not yet acknowledged */
  uplinkInFlight: number;
  /** results acknowledged by the cloud broker since start */
  uplinkAcknowledged: number;
}

export class Agent {
  readonly counters = newCounters();
  private readonly pending: OutboxRecord[] = [];
  private readonly outputs: EngineOutput[] = [];
  private engine: Engine;
  /** each rule's outputs; a reload keeps the removed rules' until their last results are routed */
  private outputPlans = new Map<string, OutputPlan>();
  private readonly localErrors: RateLimitedLog;
  /** the rules file's sources; none: the foundation's `sensors/<device>/<sensor>` JSON */
  private sources: readonly CompiledSource[];
  private rulesWatcher: FSWatcher | undefined;
  private reloadTimer: TimerHandle | undefined;
  private readonly drainTopic: string;
  private readonly ingestClientId: string;
  private outbox: Outbox | undefined;
  private state: StateStore | undefined;
  private broker: EmbeddedBroker | undefined;
  /** the embedded broker (from before it listens), and the agent's subscription inside it */
  private aedes: Aedes | undefined;
  private local: LocalSubscriber | undefined;
  /** an external edge broker's client */
  private ingest: MqttClient | undefined;
  private readonly badPayloads: RateLimitedLog;
  private readonly processingErrors: RateLimitedLog;
  /** when the message being processed arrived (performance.now()) */
  private arrivedAt: number | undefined;
  /** arrival → the edge broker's completion of each alert opened (brook_alert_latency_seconds) */
  readonly alertLatency = newAlertLatency();
  private uplink: Uplink | undefined;
  private http: HttpEndpoint | undefined;
  private flushTimer: TimerHandle | undefined;
  private stopping: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  private readonly outboxErrors: RateLimitedLog;
  private readonly deadReadings: RateLimitedLog;
  private tickTimer: TimerHandle | undefined;
  private lastCheckpoint = 0;
  /** BROOK_OUTBOX_AUDIT_FILE: one JSON line per record committed to the outbox (fault tests, audits) */
  private readonly auditFile = process.env.BROOK_OUTBOX_AUDIT_FILE;
  edgeUrl = "";

  private constructor(
    readonly config: ResolvedConfig,
    private readonly logger: Logger,
    private readonly clock: Clock,
    loaded: { rules: readonly CompiledRule[]; sources: readonly CompiledSource[] },
    private readonly options: AgentOptions,
  ) {
    this.engine = this.newEngine(loaded.rules);
    this.setOutputPlans(loaded.rules);
    this.sources = loaded.sources;
    this.ingestClientId = `brook-${config.device}-ingest`;
    this.drainTopic = `brook-internal/${config.device}/drain`;
    this.outboxErrors = new RateLimitedLog((f, m) => logger.error(f, m), clock);
    this.deadReadings = new RateLimitedLog((f, m) => logger.warn(f, m), clock);
    this.localErrors = new RateLimitedLog((f, m) => logger.warn(f, m), clock);
    this.badPayloads = new RateLimitedLog((f, m) => logger.warn(f, m), clock);
    this.processingErrors = new RateLimitedLog((f, m) => logger.error(f, m), clock);
  }

  /** Rules saved by an older version carry no outputs: theirs are the default. */
  private setOutputPlans(rules: readonly CompiledRule[]): void {
    this.outputPlans = new Map(rules.map((r) => [r.name, r.outputs ?? DEFAULT_OUTPUTS]));
  }

  /** Starts every part; if one fails, whatever had started is stopped again before the error is thrown. */
  static async start(config: ResolvedConfig, options: AgentOptions = {}): Promise<Agent> {
    const logger = options.logger ?? createLogger();
    const agent = new Agent(
      config,
      logger,
      options.clock ?? systemClock,
      options.rules === undefined
        ? loadRules(config.rulesFile)
        : { rules: options.rules, sources: [] },
      options,
    );
    try {
      await agent.startParts();
    } catch (err) {
      await agent.stop(0).catch(() => undefined);
      throw err;
    }
    return agent;
  }

  private async startParts(): Promise<void> {
    const { config, logger } = this;
    mkdirSync(config.dataDir, { recursive: true });
    this.outbox = new SqliteOutbox(join(config.dataDir, "outbox.db"), {
      synchronous: config.outbox.synchronous,
      quota: {
        maxRows: config.outbox.maxRows,
        maxBytes: config.outbox.maxBytes,
        maxAgeMs: config.outbox.maxAgeMs,
      },
    });
    this.state = new StateStore(join(config.dataDir, "state.db"));
    let subscribed: Promise<boolean>;
    if (config.edge.mode === "embedded") {
      let local: Promise<void> = Promise.resolve();
      // Subscribed and restored before the broker listens: no reading comes before either.
      this.broker = await startEmbeddedBroker(
        config.edge.host,
        config.edge.port,
        "edge",
        (aedes) => {
          this.aedes = aedes;
          this.local = new LocalSubscriber(
            aedes,
            (topic, payload) => this.onEdgeMessage(topic, payload),
            (err, topic) => this.processingFailed(err, topic),
          );
          local = this.local.add(this.ingestTopics());
          this.restoreState();
        },
      );
      this.edgeUrl = this.broker.url;
      subscribed = local.then(() => {
        this.logSubscribed();
        return true;
      });
    } else {
      this.edgeUrl = config.edge.url;
      this.ingest = mqtt.connect(this.edgeUrl, {
        clientId: this.ingestClientId,
        // A persistent session: the broker keeps readings for us while we restart.
        clean: false,
        reconnectPeriod: 1_000,
        username: config.edge.username,
        password: config.edge.password,
      });
      this.wireIngest(this.ingest);
      // No Nagle on the edge connection: local outputs (alerts) must not wait for an ACK.
      const ingest = this.ingest;
      ingest.on("connect", () =>
        (ingest.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true),
      );
      // Restored in the same tick as the connect, so no reading can reach the engine before its state.
      this.restoreState();
      subscribed = this.subscribeEdge(ingest, EDGE_FIRST_CONNECT_MS);
    }
    if (config.uplink !== undefined) {
      this.uplink = this.createUplink(this.outbox);
      this.uplink.start();
    }
    if (config.http.enabled) {
      const registry = createRegistry(
        this.counters,
        {
          outboxDepth: () => this.outboxDepth(),
          outboxDrops: () =>
            (this.outbox?.stats(this.clock.now()).drops ?? {}) as Record<string, number>,
          uplinkState: () => this.uplink?.state ?? "disabled",
          openWindows: () => this.engine.openWindows(),
          engine: () => this.engine.counters,
          stateBytes: () => this.engine.stateBytes(),
        },
        this.alertLatency,
      );
      this.http = await startHttp(config.http.host, config.http.port, registry, () =>
        this.status(),
      );
    }
    if (!(await subscribed)) {
      logger.warn({ edge: this.edgeUrl }, "edge broker not reachable yet; retrying every second");
    }
    this.scheduleFlush();
    this.lastCheckpoint = this.clock.now();
    this.scheduleTick();
    if (this.options.watchRules !== false) this.watchRules();
    if (this.uplink === undefined) logger.warn("no uplink configured: results stay in the outbox");
    logger.info(
      {
        device: config.device,
        edge: this.edgeUrl,
        http: this.http?.port,
        rules: this.engine.ruleNames(),
        dataDir: config.dataDir,
      },
      "agent ready",
    );
  }

  /** The checkpointed engine state, if any: its windows resume. */
  private restoreState(): void {
    const { logger } = this;
    const saved = this.state?.load();
    if (saved !== undefined) {
      this.engine.restore(saved.snapshot, this.outputs);
      // Windows of rules changed or removed while the agent was stopped go where those rules sent them.
      this.setOutputPlans(saved.snapshot.rules.map((r) => r.rule));
      this.route();
      this.setOutputPlans(this.engine.rules());
      this.flush();
      logger.info(
        {
          openWindows: this.engine.openWindows(),
          keys: this.engine.keyCount(),
          checkpointBytes: saved.bytes,
          savedAt: new Date(saved.savedAt).toISOString(),
        },
        "engine state restored",
      );
    }
  }

  private createUplink(outbox: Outbox): Uplink {
    const uplinkErrors = new RateLimitedLog((f, m) => this.logger.warn(f, m), this.clock);
    const up = this.config.uplink as NonNullable<ResolvedConfig["uplink"]>;
    const statusTopic = `brook/${this.config.device}/status`;
    return new Uplink({
      outbox,
      client: mqtt.connect(up.url, uplinkOptions(this.config, statusTopic)),
      statusTopic,
      batchSize: up.batchSize,
      maxBatchBytes: parseByteSize(up.maxBatchBytes),
      maxInFlight: up.maxInFlight,
      compress: up.compress,
      bandwidthBytesPerSec: this.config.uplinkMaxBytesPerSecond,
      timers: this.clock,
      // Connected/disconnected at info; the retry cycle while offline only at debug.
      onStateChange: (state, previous) => {
        const connected = (s: LinkState) => s === "draining" || s === "live";
        this.logger[connected(state) !== connected(previous) ? "info" : "debug"](
          { state, previous },
          "uplink state",
        );
      },
      onError: (err) => uplinkErrors.event({ err: err.message }, "uplink error"),
    });
  }

  get httpPort(): number | undefined {
    return this.http?.port;
  }

  status(): AgentStatus {
    return {
      counters: this.counters,
      outboxDepth: this.outboxDepth(),
      openWindows: this.engine.openWindows(),
      engine: this.engine.counters,
      stateBytes: this.engine.stateBytes(),
      uplink: this.uplink?.state ?? "disabled",
      uplinkInFlight: this.uplink?.inFlightCount ?? 0,
      uplinkAcknowledged: this.uplink?.acknowledged ?? 0,
    };
  }

  private outboxDepth(): number {
    return (this.outbox?.depth() ?? 0) + this.pending.length;
  }

  /**
   * Stops cleanly: no new readings are accepted, those already accepted are processed, the
   * open windows are checkpointed (they resume on the next start), every result is
   * committed to the outbox, and the uplink gets `drainMs` to deliver it. Rejects if
   * results could not be committed.
   */
  stop(drainMs = 1_000): Promise<void> {
    this.stopping ??= this.shutdown(drainMs);
    return this.stopping;
  }

  private async shutdown(drainMs: number): Promise<void> {
    if (this.flushTimer !== undefined) this.clock.clearTimer(this.flushTimer);
    if (this.tickTimer !== undefined) this.clock.clearTimer(this.tickTimer);
    if (this.reloadTimer !== undefined) this.clock.clearTimer(this.reloadTimer);
    this.rulesWatcher?.close();
    await this.broker?.stopAccepting();
    await this.drainEdge();
    // Nothing more reaches the engine (a sensor's last will, published as its connection closed).
    await this.local?.remove(this.local.filters).catch(() => undefined);
    await this.ingest?.endAsync().catch(() => undefined);
    let unwritten = 0;
    if (this.outbox !== undefined) {
      this.flush();
      if (this.pending.length > 0) this.flush();
      unwritten = this.pending.length;
      if (unwritten === 0) this.saveState();
    }
    if (this.uplink !== undefined) {
      if (!(await this.uplink.waitIdle(drainMs))) {
        this.logger.info(
          { outboxDepth: this.outbox?.depth() },
          "stopping with results in the outbox; they are sent on the next start",
        );
      }
      await this.uplink.stop();
    }
    this.outbox?.close();
    this.state?.close();
    await this.http?.close();
    await this.broker?.close();
    if (unwritten > 0) {
      throw new BrookError(
        "BROOK_ERR_OUTBOX_UNWRITABLE",
        `${unwritten} results could not be written to the outbox and are lost; engine state was not checkpointed`,
      );
    }
    this.logger.info("agent stopped");
  }

  private newEngine(rules: readonly CompiledRule[]): Engine {
    return new Engine({
      device: this.config.device,
      rules,
      maxStateBytes: this.config.state.maxBytes,
      maxFutureMs: this.config.maxFutureMs,
    });
  }

  /**
   * Reloads the rules file (on a change of the file, or SIGHUP). An invalid file is
   * rejected and the running rules stay. A valid one replaces them at once, between two
   * readings: a rule of the same name and definition (window, lateness, aggregates,
   * detectors) keeps its state; the open windows of a removed or changed rule are emitted
   * as partial results. Returns the problems of a rejected file.
   */
  reloadRules(): { ok: boolean; problems: string[] } {
    const file = this.config.rulesFile;
    if (file === undefined || this.stopping !== undefined)
      return { ok: false, problems: ["no rules file to reload"] };
    let loaded: ReturnType<typeof loadRulesFile>;
    try {
      loaded = loadRulesFile(file);
    } catch (err) {
      // A bug in the checker must not stop the agent: the running rules stay.
      loaded = {
        ok: false,
        unreadable: false,
        problems: [{ where: file, path: "", message: `cannot check: ${(err as Error).message}` }],
      };
    }
    if (!loaded.ok) {
      this.counters.reloadsRejected++;
      const problems = loaded.problems.map(formatProblem);
      this.logger.error({ file, problems }, "rules reload rejected: the running rules stay");
      return { ok: false, problems };
    }
    const before = new Set(this.engine.ruleNames());
    const next = this.newEngine(loaded.rules);
    next.restore(this.engine.snapshot(), this.outputs);
    this.engine = next;
    const oldTopics = this.ingestTopics();
    this.sources = loaded.sources;
    this.resubscribe(oldTopics, this.ingestTopics());
    // The results of removed and changed rules go where the old rules sent them.
    this.route();
    this.setOutputPlans(loaded.rules);
    this.flush();
    this.counters.reloads++;
    const after = next.ruleNames();
    this.logger.info(
      {
        file,
        rules: after,
        added: after.filter((n) => !before.has(n)),
        removed: [...before].filter((n) => !after.includes(n)),
      },
      "rules reloaded",
    );
    return { ok: true, problems: [] };
  }

  /** After a reload: subscribe to new source topics, drop the ones no source uses any more. */
  private resubscribe(before: readonly string[], after: readonly string[]): void {
    const added = after.filter((t) => !before.includes(t));
    const removed = before.filter((t) => !after.includes(t));
    const log = (err: Error) =>
      this.logger.error({ err: err.message }, "edge subscription change failed");
    const { local, ingest } = this;
    if (local !== undefined) {
      local.add(added).catch(log);
      local.remove(removed).catch(log);
      return;
    }
    if (ingest === undefined || !ingest.connected) return; // the next connect subscribes to `after`
    if (added.length > 0) ingest.subscribeAsync(added, { qos: 1 }).catch(log);
    if (removed.length > 0) ingest.unsubscribeAsync(removed).catch(log);
  }

  /** Watches the rules file's folder (editors replace files by renaming), debounced. */
  private watchRules(): void {
    const file = this.config.rulesFile;
    if (file === undefined) return;
    try {
      this.rulesWatcher = watch(dirname(file), (_event, name) => {
        if (name !== basename(file)) return;
        if (this.reloadTimer !== undefined) this.clock.clearTimer(this.reloadTimer);
        this.reloadTimer = this.clock.setTimer(() => this.reloadRules(), RELOAD_DEBOUNCE_MS);
      });
      this.rulesWatcher.on("error", (err) =>
        this.logger.warn({ err: err.message }, "cannot watch the rules file; reload with SIGHUP"),
      );
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message },
        "cannot watch the rules file; reload with SIGHUP",
      );
    }
  }

  private saveState(): void {
    try {
      this.state?.save(this.engine.snapshot(), this.clock.now());
      this.counters.checkpoints++;
    } catch (err) {
      this.logger.error(
        { err: (err as Error).message },
        "could not checkpoint engine state; open windows restart empty",
      );
    }
  }

  /**
   * Publishes a marker and waits until it has been delivered to us: the broker delivers in
   * order, so every reading it accepted before the marker has then reached the engine.
   */
  private async drainEdge(): Promise<void> {
    const { aedes, ingest } = this;
    if (aedes === undefined && (ingest === undefined || !ingest.connected)) return;
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimer(resolve, EDGE_DRAIN_MS);
      const drained = () => {
        this.clock.clearTimer(timer);
        resolve();
      };
      if (aedes === undefined) {
        this.drained = drained;
        ingest?.publish(this.drainTopic, "", { qos: 1 });
        return;
      }
      // Delivery in-process is synchronous, so the marker's publish completes after every
      // reading routed before it; at QoS 1 it is routed after the QoS 1 readings accepted
      // before it, which wait on the broker's persistence first (a QoS 0 marker would overtake them).
      publishInProcess(aedes, this.drainTopic, Buffer.alloc(0), 1, drained);
    });
  }

  /**
   * Subscribes on every (re)connect; resolves true once the first subscription is in
   * place, or false if that takes longer than `waitMs` (the client keeps retrying).
   */
  private ingestTopics(): string[] {
    return this.sources.length === 0
      ? [INGEST_TOPIC]
      : [...new Set(this.sources.map((s) => s.topic))];
  }

  private subscribeEdge(ingest: MqttClient, waitMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(() => resolve(false), waitMs);
      const subscribe = () => {
        ingest
          .subscribeAsync([...this.ingestTopics(), this.drainTopic], { qos: 1 })
          .then((granted) => {
            const refused = granted.filter((g) => g.qos === 128);
            if (refused.length > 0)
              throw new Error(`the broker refused ${refused.map((g) => g.topic).join(", ")}`);
            this.logSubscribed();
            this.clock.clearTimer(timer);
            resolve(true);
          })
          .catch((err: Error) => {
            this.logger.error(
              { err: err.message, retryInMs: EDGE_RESUBSCRIBE_MS },
              "edge subscription failed",
            );
            this.clock.setTimer(() => {
              if (ingest.connected && this.stopping === undefined) subscribe();
            }, EDGE_RESUBSCRIBE_MS);
          });
      };
      ingest.on("connect", subscribe);
      if (ingest.connected) subscribe();
    });
  }

  private logSubscribed(): void {
    this.logger.info(
      { edge: this.edgeUrl, topics: this.ingestTopics(), inProcess: this.local !== undefined },
      "subscribed at the edge broker",
    );
  }

  private wireIngest(ingest: MqttClient): void {
    const edgeErrors = new RateLimitedLog((f, m) => this.logger.warn(f, m), this.clock);
    ingest.on("message", (topic, payload) => this.onEdgeMessage(topic, payload));
    ingest.on("error", (err) =>
      edgeErrors.event({ err: err.message, edge: this.edgeUrl }, "edge broker connection error"),
    );
  }

  /** A message from the edge broker: the drain marker, or readings. */
  private onEdgeMessage(topic: string, payload: Buffer): void {
    if (topic === this.drainTopic) {
      this.drained?.();
      return;
    }
    this.arrivedAt = performance.now();
    try {
      this.ingestMessage(topic, payload);
    } catch (err) {
      this.processingFailed(err, topic);
    } finally {
      this.arrivedAt = undefined;
    }
  }

  /** A bug must not take the agent (and every sensor's readings) down: counted, logged, and on to the next message. */
  private processingFailed(err: unknown, topic: string): void {
    this.counters.processingErrors++;
    this.processingErrors.event(
      { err: err instanceof Error ? (err.stack ?? err.message) : String(err), topic },
      "processing a message failed; it is skipped",
    );
  }

  private ingestMessage(topic: string, payload: Buffer): void {
    const now = this.clock.now();
    if (this.sources.length > 0) {
      this.ingestFromSources(topic, payload, now);
      if (this.outputs.length > 0) this.route();
      return;
    }
    const decoded = decodeJsonReading(topic, payload, now);
    if (!decoded.ok) {
      this.counters.deadLetters[decoded.dead.reason]++;
      this.badPayloads.event(decoded.dead, "dead letter: message not decodable");
      return;
    }
    this.counters.readings++;
    this.engine.process(decoded.reading, now, this.outputs);
    if (this.outputs.length > 0) this.route();
  }

  /**
   * A message on a source's topic: decoded by the format of every source whose topic filter
   * matches (one message can carry several values, each picked by its own source), each
   * reading to the engine.
   */
  private ingestFromSources(topic: string, payload: Buffer, now: number): void {
    const decodings = decodeBySources(this.sources, topic, payload, now);
    for (const { source, decoded } of decodings) {
      for (const dead of decoded.dead) {
        this.counters.deadLetters[dead.reason]++;
        this.badPayloads.event(
          { ...dead, topic, source: source.name },
          "dead letter: message not decodable",
        );
      }
      for (const reading of decoded.readings) {
        this.counters.readings++;
        this.engine.process(reading, now, this.outputs, source.name);
      }
    }
    if (decodings.length === 0) {
      this.counters.deadLetters.bad_topic++;
      this.badPayloads.event(
        { reason: "bad_topic", topic },
        "dead letter: no source for this topic",
      );
    }
  }

  /** Turns engine outputs into outbox records and local publishes. */
  private route(): void {
    const device = this.config.device;
    for (const out of this.outputs) {
      if (out.kind === "dead") {
        this.counters.deadLetters.future++;
        this.deadReadings.event(
          { reason: out.reason, reading: out.reading, now: out.now },
          "dead letter: reading stamped too far in the future",
        );
        continue;
      }
      const plan = this.outputPlans.get(out.rule) ?? DEFAULT_OUTPUTS;
      let priority: PriorityLevel = Priority.bulk;
      let topic = `brook/${device}/late`;
      if (out.kind === "agg") {
        this.counters.windowsClosed++;
        if (out.partial) this.counters.partialWindows++;
        priority = Priority[plan.priority];
        topic = `brook/${device}/agg/${out.rule}`;
      } else if (out.kind === "alert") {
        priority = Priority.alert;
        topic = `brook/${device}/alert/${out.rule}`;
      }
      const payload = Buffer.from(JSON.stringify(out));
      const local = out.kind === "alert" ? plan.localAlerts : plan.local;
      if (local !== undefined) this.publishLocal(local, out, payload);
      if (!plan.upstream) continue;
      if (this.pending.length >= PENDING_MAX) {
        this.counters.dropped.outbox_unwritable++;
        continue;
      }
      this.pending.push({ id: out.id, revision: out.revision, priority, topic, payload });
    }
    this.outputs.length = 0;
    if (this.pending.length >= OUTBOX_BATCH) this.flush();
  }

  /**
   * Publishes a result on the edge broker at QoS 1: a live feed for local consumers. The
   * embedded broker takes it in-process; an external one through the edge client. While
   * an external broker is away, up to LOCAL_QUEUE_MAX results wait in memory (not across a crash;
   * durable delivery is the outbox's job). A result refused or over that limit is counted
   * and logged, never dropped silently; `localPublished` counts the broker's acknowledgements.
   */
  private publishLocal(
    template: string,
    out: Exclude<EngineOutput, { kind: "dead" }>,
    payload: Buffer,
  ): void {
    const topic = expandOutputTopic(template, {
      device: this.config.device,
      rule: out.rule,
      key: out.key,
      kind: out.kind,
    });
    const failed = (err: Error) => {
      this.counters.dropped.local_publish_failed++;
      this.localErrors.event({ err: err.message, topic }, "local publish failed");
    };
    // An alert's opening is timed from its reading's arrival (routing runs in the same turn).
    const arrived = out.kind === "alert" && out.revision === 0 ? this.arrivedAt : undefined;
    const published = (err?: Error | null) => {
      if (err !== undefined && err !== null) failed(err);
      else {
        this.counters.localPublished++;
        if (arrived !== undefined) this.alertLatency.observe((performance.now() - arrived) / 1000);
      }
    };
    // The embedded broker takes the result in-process: no TCP round trip to itself. It routes
    // a QoS 1 message after a step of its persistence (a promise), so a result on a topic a
    // source reads comes back in after this routing, never inside it.
    const aedes = this.aedes;
    if (aedes !== undefined) {
      if (aedes.closed) failed(new Error("the embedded broker is closed"));
      else publishInProcess(aedes, topic, payload, 1, published);
      return;
    }
    const ingest = this.ingest;
    if (ingest === undefined || ingest.disconnecting) {
      failed(new Error("the edge client is stopped"));
      return;
    }
    if (!ingest.connected && ingest.queue.length >= LOCAL_QUEUE_MAX) {
      this.counters.dropped.local_queue_full++;
      this.localErrors.event(
        { topic, queued: ingest.queue.length },
        "local publish dropped: the edge broker is away and the queue is full",
      );
      return;
    }
    ingest.publish(topic, payload, { qos: 1 }, published);
  }

  private flush(): void {
    if (this.pending.length === 0 || this.outbox === undefined) return;
    try {
      this.outbox.append(this.pending, this.clock.now());
      if (this.auditFile !== undefined) audit(this.auditFile, this.pending);
      this.pending.length = 0;
    } catch (err) {
      // Kept in memory (up to PENDING_MAX) and retried on the next tick; a full disk must not crash the agent.
      this.outboxErrors.event(
        { err: (err as Error).message, pending: this.pending.length },
        "outbox write failed",
      );
      return;
    }
    this.uplink?.kick();
  }

  /** Once a second: flush idle keys; every checkpoint interval: save engine state. */
  private scheduleTick(): void {
    this.tickTimer = this.clock.setTimer(() => {
      const now = this.clock.now();
      this.engine.tick(now, this.outputs);
      try {
        this.outbox?.expire(now);
      } catch (err) {
        this.outboxErrors.event({ err: (err as Error).message }, "outbox expiry failed");
      }
      if (this.outputs.length > 0) this.route();
      if (now - this.lastCheckpoint >= this.config.state.checkpointIntervalMs) {
        // Results first, then the state that produced them: a crash between the two re-emits, never loses.
        this.flush();
        if (this.pending.length === 0) this.saveState();
        this.lastCheckpoint = now;
      }
      this.scheduleTick();
    }, TICK_MS);
  }

  private scheduleFlush(): void {
    this.flushTimer = this.clock.setTimer(() => {
      this.flush();
      this.scheduleFlush();
    }, OUTBOX_FLUSH_MS);
  }
}

const DEFAULT_OUTPUTS: OutputPlan = Object.freeze({
  local: undefined,
  localAlerts: DEFAULT_ALERT_TOPIC,
  upstream: true,
  priority: "aggregate",
});

/** Appends `{id, revision, sha256}` per record, after its commit: what the outbox promised to deliver. */
function audit(file: string, records: readonly OutboxRecord[]): void {
  let lines = "";
  for (const r of records) {
    lines += `${JSON.stringify({ id: r.id, revision: r.revision, sha256: createHash("sha256").update(r.payload).digest("hex") })}\n`;
  }
  appendFileSync(file, lines);
}

function loadRules(file: string | undefined): {
  rules: readonly CompiledRule[];
  sources: readonly CompiledSource[];
} {
  if (file === undefined) return { rules: DEFAULT_RULES, sources: [] };
  const loaded = loadRulesFile(file);
  if (loaded.ok) return loaded;
  const details = loaded.problems.map(formatProblem);
  throw new BrookError(
    loaded.unreadable ? "BROOK_ERR_RULES_UNREADABLE" : "BROOK_ERR_RULES_INVALID",
    `invalid rules file ${file}:\n  ${details.join("\n  ")}`,
    details,
  );
}

/**
 * The uplink's client: a persistent session (its in-flight QoS 1 state survives a
 * reconnect), a retained `offline` last will on the status topic, and no automatic
 * reconnects (the uplink's link-state machine does those, with backoff).
 */
function uplinkOptions(config: ResolvedConfig, statusTopic: string): IClientOptions {
  const up = config.uplink;
  if (up === undefined) throw new Error("no uplink configured");
  const tls = up.tls;
  const v5 = up.protocol === "5";
  return {
    clientId: up.clientId ?? `brook-${config.device}`,
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
