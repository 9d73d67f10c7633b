/**
 * The agent's runtime wiring — the one place where sockets, files and timers meet the pure
 * engine: edge broker → ingest client → decode → engine → outbox (batched) → uplink.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { type Outbox, type OutboxRecord, Priority } from "../../cloud-sync/outbox.js";
import { SqliteOutbox } from "../../cloud-sync/sqlite-outbox.js";
import { type LinkState, Uplink } from "../../cloud-sync/uplink.js";
import { type CompiledRule, DEFAULT_RULES, loadRulesFile } from "../../rules/load.js";
import { formatProblem } from "../../rules/validate-yaml.js";
import { type Clock, systemClock, type TimerHandle } from "../clock.js";
import type { ResolvedConfig } from "../config/load.js";
import { Engine } from "../engine/engine.js";
import { lateId } from "../engine/result-id.js";
import type { EngineOutput } from "../engine/types.js";
import { BrookError } from "../errors.js";
import { decodeJsonReading, INGEST_TOPIC } from "../ingest/decode.js";
import { type EmbeddedBroker, startEmbeddedBroker } from "./broker.js";
import { type HttpEndpoint, startHttp } from "./http.js";
import { createLogger, type Logger, RateLimitedLog } from "./log.js";
import { type AgentCounters, createRegistry, newCounters } from "./metrics.js";

/** Results wait at most this long in memory before their batch is committed to the outbox. */
const OUTBOX_FLUSH_MS = 50;
const OUTBOX_BATCH = 1_000;
/** How long start-up waits for an external edge broker before carrying on and retrying. */
const EDGE_FIRST_CONNECT_MS = 5_000;

export interface AgentOptions {
  logger?: Logger;
  clock?: Clock;
  /** Rules to run instead of the config's rules file (the demo passes its own). */
  rules?: readonly CompiledRule[];
}

export interface AgentStatus {
  counters: AgentCounters;
  outboxDepth: number;
  openWindows: number;
  uplink: LinkState | "disabled";
}

export class Agent {
  readonly counters = newCounters();
  private readonly pending: OutboxRecord[] = [];
  private readonly outputs: EngineOutput[] = [];
  private flushTimer: TimerHandle | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly config: ResolvedConfig,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly engine: Engine,
    private readonly outbox: Outbox,
    private readonly broker: EmbeddedBroker | undefined,
    private readonly ingest: MqttClient,
    private readonly uplink: Uplink | undefined,
    private http: HttpEndpoint | undefined,
    readonly edgeUrl: string,
  ) {}

  static async start(config: ResolvedConfig, options: AgentOptions = {}): Promise<Agent> {
    const logger = options.logger ?? createLogger();
    const clock = options.clock ?? systemClock;
    const rules = options.rules ?? loadRules(config.rulesFile);
    mkdirSync(config.dataDir, { recursive: true });
    const outbox = new SqliteOutbox(join(config.dataDir, "outbox.db"));
    let broker: EmbeddedBroker | undefined;
    try {
      broker =
        config.edge.mode === "embedded"
          ? await startEmbeddedBroker(config.edge.host, config.edge.port)
          : undefined;
    } catch (err) {
      outbox.close();
      throw err;
    }
    const edgeUrl = broker?.url ?? (config.edge as { url: string }).url;
    const ingest = mqtt.connect(edgeUrl, {
      clientId: `brook-${config.device}-ingest`,
      clean: true,
      reconnectPeriod: 1_000,
      username: config.edge.mode === "external" ? config.edge.username : undefined,
      password: config.edge.mode === "external" ? config.edge.password : undefined,
    });
    const uplinkErrors = new RateLimitedLog((fields, msg) => logger.warn(fields, msg), clock);
    const uplink =
      config.uplink === undefined
        ? undefined
        : new Uplink({
            outbox,
            client: mqtt.connect(config.uplink.url, uplinkOptions(config)),
            // Connected/disconnected at info; the retry cycle while offline only at debug.
            onStateChange: (state, previous) => {
              const connectedChange =
                (state === "draining" || state === "live") !==
                (previous === "draining" || previous === "live");
              logger[connectedChange ? "info" : "debug"]({ state, previous }, "uplink state");
            },
            onError: (err) => uplinkErrors.event({ err: err.message }, "uplink error"),
          });
    const agent = new Agent(
      config,
      logger,
      clock,
      new Engine(config.device, rules),
      outbox,
      broker,
      ingest,
      uplink,
      undefined,
      edgeUrl,
    );
    agent.wireIngest();
    if (config.http.enabled) {
      const registry = createRegistry(agent.counters, {
        outboxDepth: () => outbox.depth(),
        uplinkState: () => uplink?.state ?? "disabled",
        openWindows: () => agent.engine.openWindows(),
      });
      try {
        agent.http = await startHttp(config.http.host, config.http.port, registry, () =>
          agent.status(),
        );
      } catch (err) {
        await agent.stop();
        throw err;
      }
    }
    const subscribedInTime = await agent.subscribeEdge(EDGE_FIRST_CONNECT_MS);
    if (!subscribedInTime) {
      logger.warn({ edge: edgeUrl }, "edge broker not reachable yet; retrying every second");
    }
    agent.scheduleFlush();
    if (uplink === undefined) logger.warn("no uplink configured: results stay in the outbox");
    logger.info(
      {
        device: config.device,
        edge: edgeUrl,
        http: agent.http?.port,
        rules: rules.map((r) => r.name),
        dataDir: config.dataDir,
      },
      "agent ready",
    );
    return agent;
  }

  /** Records the cloud broker has acknowledged since start. */
  get uplinkAcknowledged(): number {
    return this.uplink?.acknowledged ?? 0;
  }

  get httpPort(): number | undefined {
    return this.http?.port;
  }

  status(): AgentStatus {
    return {
      counters: this.counters,
      outboxDepth: this.outbox.depth() + this.pending.length,
      openWindows: this.engine.openWindows(),
      uplink: this.uplink?.state ?? "disabled",
    };
  }

  /** Stops ingest, emits open windows as partial results, commits them, drains the uplink briefly, closes. */
  stop(drainMs = 1_000): Promise<void> {
    this.stopping ??= this.shutdown(drainMs);
    return this.stopping;
  }

  private async shutdown(drainMs: number): Promise<void> {
    if (this.flushTimer !== undefined) this.clock.clearTimer(this.flushTimer);
    await this.ingest.endAsync(true).catch(() => undefined);
    this.engine.flushAll(this.outputs);
    this.route();
    this.flush();
    if (this.uplink !== undefined) {
      const drained = await this.uplink.waitIdle(drainMs);
      if (!drained)
        this.logger.info(
          { outboxDepth: this.outbox.depth() },
          "stopping with results still in the outbox; they are sent on the next start",
        );
      await this.uplink.stop();
    }
    this.outbox.close();
    await this.http?.close();
    await this.broker?.close();
    this.logger.info("agent stopped");
  }

  /**
   * Subscribes on every (re)connect; resolves true once the first subscription is in
   * place, or false if that takes longer than `waitMs` (the client keeps retrying).
   */
  private subscribeEdge(waitMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(() => resolve(false), waitMs);
      const subscribe = () => {
        this.ingest.subscribeAsync(INGEST_TOPIC, { qos: 1 }).then(
          () => {
            this.logger.info(
              { edge: this.edgeUrl, topic: INGEST_TOPIC },
              "subscribed at the edge broker",
            );
            this.clock.clearTimer(timer);
            resolve(true);
          },
          (err: Error) => this.logger.error({ err: err.message }, "edge subscription failed"),
        );
      };
      this.ingest.on("connect", subscribe);
      if (this.ingest.connected) subscribe();
    });
  }

  private wireIngest(): void {
    const badPayloads = new RateLimitedLog(
      (fields, msg) => this.logger.warn(fields, msg),
      this.clock,
    );
    this.ingest.on("message", (topic, payload) => {
      const decoded = decodeJsonReading(topic, payload, this.clock.now());
      if (!decoded.ok) {
        this.counters.deadLetters[decoded.dead.reason]++;
        badPayloads.event(decoded.dead, "dead letter: message not decodable");
        return;
      }
      this.counters.readings++;
      this.engine.process(decoded.reading, this.outputs);
      if (this.outputs.length > 0) this.route();
    });
    const edgeErrors = new RateLimitedLog(
      (fields, msg) => this.logger.warn(fields, msg),
      this.clock,
    );
    this.ingest.on("error", (err) =>
      edgeErrors.event({ err: err.message, edge: this.edgeUrl }, "edge broker connection error"),
    );
  }

  /** Turns engine outputs into outbox records. */
  private route(): void {
    const device = this.config.device;
    for (const out of this.outputs) {
      if (out.kind === "agg") {
        this.counters.windowsClosed++;
        if (out.partial) this.counters.partialWindows++;
        this.pending.push({
          id: out.id,
          revision: out.revision,
          priority: Priority.aggregate,
          topic: `brook/${device}/agg/${out.rule}`,
          payload: Buffer.from(JSON.stringify(out)),
        });
      } else {
        this.counters.late++;
        const r = out.reading;
        this.pending.push({
          id: lateId(device, out.rule, out.key, r.ts, r.value),
          revision: 0,
          priority: Priority.bulk,
          topic: `brook/${device}/late`,
          payload: Buffer.from(JSON.stringify(out)),
        });
      }
    }
    this.outputs.length = 0;
    if (this.pending.length >= OUTBOX_BATCH) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    try {
      this.outbox.append(this.pending, this.clock.now());
      this.pending.length = 0;
    } catch (err) {
      // Kept in memory and retried on the next tick; a full disk must not crash the agent.
      this.logger.error(
        { err: (err as Error).message, pending: this.pending.length },
        "outbox write failed",
      );
      return;
    }
    this.uplink?.kick();
  }

  private scheduleFlush(): void {
    this.flushTimer = this.clock.setTimer(() => {
      this.flush();
      this.scheduleFlush();
    }, OUTBOX_FLUSH_MS);
  }
}

function loadRules(file: string | undefined): readonly CompiledRule[] {
  if (file === undefined) return DEFAULT_RULES;
  const loaded = loadRulesFile(file);
  if (loaded.ok) return loaded.rules;
  const details = loaded.problems.map(formatProblem);
  throw new BrookError(
    loaded.unreadable ? "BROOK_ERR_RULES_UNREADABLE" : "BROOK_ERR_RULES_INVALID",
    `invalid rules file ${file}:\n  ${details.join("\n  ")}`,
    details,
  );
}

function uplinkOptions(config: ResolvedConfig): IClientOptions {
  const up = config.uplink;
  if (up === undefined) throw new Error("no uplink configured");
  const tls = up.tls;
  return {
    clientId: up.clientId ?? `brook-${config.device}`,
    username: up.username,
    password: up.password,
    clean: true,
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
    ca: tls?.ca === undefined ? undefined : readFileSync(tls.ca),
    cert: tls?.cert === undefined ? undefined : readFileSync(tls.cert),
    key: tls?.key === undefined ? undefined : readFileSync(tls.key),
    servername: tls?.servername,
    rejectUnauthorized: tls?.rejectUnauthorized ?? true,
  };
}
