/**
 * The embedded edge broker: aedes on a TCP server. A sensor's message on the agent's
 * filters is taken in aedes' `authorizePublish` hook, which aedes waits for before it
 * acknowledges and routes the message: the agent holds it until the message is durable,
 * so aedes' PUBACK means the reading is on disk. Messages published inside the agent's own
 * process (its local results, when a source reads their topic) reach it through an
 * in-process subscription (LocalSubscriber: no socket, no client, no second parse). A
 * sensor's message the agent took is routed on only when another subscription matches it
 * (routeOnlyWhenHeard).
 */
import type { Aedes } from "aedes";
import type { Clock, TimerHandle } from "../../lib/clock.js";
import { topicMatcher } from "../../rules/topic.js";
import { connectedClients, publishInProcess, routeOnlyWhenHeard } from "./aedes-patches.js";
import {
  type BrokerLimits,
  type BrokerTls,
  type EmbeddedBroker,
  LocalSubscriber,
  startEmbeddedBroker,
} from "./broker.js";
import {
  EDGE_DRAIN_MS,
  type EdgeHandlers,
  type EdgeSource,
  type EdgeStart,
  type PublishDone,
} from "./edge.js";
import type { EdgeAuth } from "./edge-auth.js";
import { type KeptLimits, PublishRate } from "./edge-limits.js";
import type { Logger } from "./log.js";
import type { CredentialsFile } from "./passwords.js";

/**
 * Marks the payload of a message taken from a sensor: aedes passes the same Buffer on when
 * it routes the message. (A WeakSet of them took 5 % of the agent's CPU at 40,000
 * readings/s in a profile; the mark does not show.)
 */
const TAKEN = Symbol("taken by the agent");
type Marked = Buffer & { [TAKEN]?: true };
const isTaken = (payload: unknown): boolean => (payload as Marked | undefined)?.[TAKEN] === true;

/** How long a broken connection can go unnoticed: 1.5 × a 60 s keepalive, and a margin. */
const UNNOTICED_BREAK_MS = 92_000;
/** How often the credentials file is looked at for a change (a `stat`). */
const CREDENTIALS_CHECK_MS = 2_000;
/** Client ids whose last disconnect is remembered (beyond them the memory starts again). */
const MAX_REMEMBERED_CLIENTS = 100_000;

/** Who may connect and do what, and how much (edge-auth.ts, edge-limits.ts); none: an open broker. */
export interface EdgeGuard {
  auth: EdgeAuth;
  /** the credentials file, read again when it changes */
  credentials: CredentialsFile | undefined;
  limits: BrokerLimits;
  kept: KeptLimits;
  /** where the plain listener binds, when not the host (beside TLS: loopback) */
  plainHost: string | undefined;
  /** a client was disconnected: its user's credentials were removed or changed */
  revoked: (client: string) => void;
  tls: BrokerTls | undefined;
  /** messages per second each client may publish */
  publishRate: number;
  throttled: () => void;
}

export interface EmbeddedEdgeOptions {
  host: string;
  port: number;
  guard?: EdgeGuard;
  /** where the drain marker is published */
  drainTopic: string;
  clock: Clock;
  logger: Logger;
}

export class EmbeddedEdge implements EdgeSource {
  url = "";
  /** the TLS listener's URL, when there is one */
  tlsUrl: string | undefined;
  subscribed: Promise<boolean> = Promise.resolve(false);
  private broker: EmbeddedBroker | undefined;
  /** the broker, from before it listens (state restored then may publish local results) */
  private aedes: Aedes | undefined;
  private local: LocalSubscriber | undefined;
  /** the agent's filters, compiled, for the messages of sensors */
  private matchers: { matches: (topic: string) => boolean; takesDollar: boolean }[] = [];
  /** connections still in their first messages, which may be ones sent again (see MessageMeta) */
  private readonly resending = new WeakMap<object, boolean>();
  /** per client id: since when PUBACKs may not have reached it, its last connection having broken */
  private readonly acksLost = new Map<string, number>();
  private credentialsTimer: TimerHandle | undefined;
  private closed = false;

  get connected(): boolean {
    return this.broker !== undefined && !this.closed;
  }

  /** The credentials file's check, when the broker has one (see EdgeSource). */
  get verifyUser(): EdgeSource["verifyUser"] {
    const credentials = this.options.guard?.credentials;
    if (credentials === undefined) return undefined;
    return (user, password, done) => credentials.check.verify(user, Buffer.from(password), done);
  }

  constructor(private readonly options: EmbeddedEdgeOptions) {}

  async start(handlers: EdgeHandlers, filters: readonly string[], first: EdgeStart): Promise<void> {
    // Subscribed and restored before the broker listens: no reading comes before either.
    this.broker = await startEmbeddedBroker(
      this.options.host,
      this.options.port,
      "edge",
      (aedes) => {
        this.aedes = aedes;
        this.setMatchers(filters);
        aedes.authorizePublish = this.authorizePublish(handlers);
        const auth = this.options.guard?.auth;
        if (auth !== undefined) {
          aedes.authenticate = (client, username, password, done) =>
            auth.authenticate(client, username, password, (ok) =>
              ok
                ? done(null, true)
                : done(Object.assign(new Error("not authorized"), { returnCode: 4 }), false),
            );
          aedes.authorizeSubscribe = (client, subscription, done) =>
            done(null, auth.maySubscribe(client, subscription.topic) ? subscription : null);
        }
        aedes.on("clientDisconnect", (client) => this.connectionEnded(client, handlers));
        // Only what did not come through authorizePublish: published in-process.
        const inProcess = (topic: string, payload: Buffer, qos: number) => {
          if (!isTaken(payload))
            handlers.message(topic, payload, { qos, dup: false, client: "", mid: 0 });
        };
        this.local = new LocalSubscriber(aedes, inProcess, handlers.failed);
        // A sensor's message the agent took goes no further when no one else subscribes to it.
        routeOnlyWhenHeard(
          aedes,
          (packet) => isTaken(packet.payload),
          (notify) => this.local?.owns(notify) === true,
        );
        this.subscribed = this.local.add(filters).then(() => {
          this.options.logger.info(
            { edge: this.url, topics: filters, inProcess: true },
            "subscribed at the edge broker",
          );
          return true;
        });
        first();
      },
      {
        limits: this.options.guard?.limits,
        tls: this.options.guard?.tls,
        kept: this.options.guard?.kept,
        plainHost: this.options.guard?.plainHost,
      },
    );
    if (this.options.guard?.credentials !== undefined) this.watchCredentials();
    this.url = this.broker.url;
    this.tlsUrl = this.broker.tlsUrl;
  }

  /**
   * Reads the credentials file again when it changes (looked at every CREDENTIALS_CHECK_MS,
   * and at `reloadCredentials`): a user removed, or given another password, is
   * disconnected, and connects again only with what the file says now.
   */
  private watchCredentials(): void {
    const { clock } = this.options;
    const look = () => {
      this.reloadCredentials();
      this.credentialsTimer = clock.setTimer(look, CREDENTIALS_CHECK_MS);
    };
    this.credentialsTimer = clock.setTimer(look, CREDENTIALS_CHECK_MS);
  }

  /** Reads the credentials file again if it changed (also on SIGHUP). */
  reloadCredentials(): void {
    const guard = this.options.guard;
    const credentials = guard?.credentials;
    if (guard === undefined || credentials === undefined) return;
    const outcome = credentials.refresh();
    if (outcome === "unchanged") return;
    if (outcome instanceof Error) {
      this.options.logger.error(
        { err: outcome.message },
        "the credentials file changed but cannot be used: the users before the change stay",
      );
      return;
    }
    guard.auth.passwords = credentials.check;
    let revoked = 0;
    for (const client of this.aedes === undefined ? [] : connectedClients(this.aedes)) {
      if (guard.auth.stillValid(client)) continue;
      revoked++;
      guard.revoked(client.id);
      client.close();
    }
    this.options.logger.info(
      { users: credentials.check.size, disconnected: revoked },
      "the credentials file changed: read again",
    );
  }

  /** The agent's own output topics, which no client may publish on (a reload changes them). */
  setOwnTopics(templates: readonly string[]): void {
    this.options.guard?.auth.setOwnTopics(templates);
  }

  /**
   * aedes calls this for each publish of a client (a will included) and acknowledges and
   * routes the message when it is called back. The agent's messages it hands on, with the
   * callback as their release; others, and `$SYS` refused as aedes does, it answers at once.
   */
  private authorizePublish(handlers: EdgeHandlers): Aedes["authorizePublish"] {
    const { guard, clock } = this.options;
    const rate =
      guard === undefined ? undefined : new PublishRate(guard.publishRate, () => clock.now());
    return (client, packet, callback) => {
      const { topic } = packet;
      if (topic.startsWith("$SYS")) {
        callback(new Error("$SYS topic is reserved"));
        return;
      }
      if (guard !== undefined && !guard.auth.mayPublish(client, topic)) {
        callback(new Error(`not authorized to publish on ${topic}`));
        return;
      }
      // Over its rate, a client's message waits (and its connection's next read with it).
      const attempt = () => {
        const wait = client === null || rate === undefined ? 0 : rate.wait(client);
        if (wait > 0) {
          guard?.throttled();
          clock.setTimer(attempt, wait);
        } else this.take(handlers, client, packet, callback);
      };
      attempt();
    };
  }

  /** A client's publish, authorized: the agent's own messages are handed on, others routed at once. */
  private take(
    handlers: EdgeHandlers,
    client: { id: string } | null,
    packet: Parameters<Aedes["authorizePublish"]>[1],
    callback: (err?: Error | null) => void,
  ): void {
    {
      const { topic } = packet;
      if (!this.ours(topic)) {
        callback(null);
        return;
      }
      const raw = packet.payload;
      const payload = typeof raw === "string" ? Buffer.from(raw) : raw;
      if (typeof raw !== "string") (raw as Marked)[TAKEN] = true;
      const id = client?.id ?? "";
      const first = client !== null && this.resending.get(client) !== false;
      const meta = {
        qos: packet.qos,
        dup: packet.dup === true,
        client: id,
        mid: packet.messageId ?? 0,
        firstOnConnection: first ? { acksLostSince: this.acksLost.get(id) } : undefined,
      };
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        callback(null);
      };
      try {
        const redelivered = handlers.message(topic, payload, meta, release);
        // Sent again first, in order: the first new message ends what can be a redelivery.
        if (first && !redelivered && meta.qos > 0) this.resending.set(client as object, false);
      } catch (err) {
        handlers.failed(err, topic);
      }
    }
  }

  /**
   * A client's connection ended. Broken (no DISCONNECT): PUBACKs sent to it over the time a
   * broken connection can go unnoticed (one and a half keepalives: 90 s at MQTT clients'
   * usual 60 s) may not have arrived.
   */
  private connectionEnded(
    client: { id: string; _disconnected?: boolean },
    handlers: EdgeHandlers,
  ): void {
    // A DISCONNECT said goodbye: its publisher had what it waited for (clients send it once
    // their messages in flight are acknowledged).
    if (client._disconnected === true) {
      this.acksLost.delete(client.id);
      return;
    }
    if (this.acksLost.size >= MAX_REMEMBERED_CLIENTS) this.acksLost.clear();
    const since = this.options.clock.now() - UNNOTICED_BREAK_MS;
    this.acksLost.set(client.id, since);
    handlers.connectionBroke?.(client.id, since);
  }

  /** Whether a sensor's message is on one of the agent's filters (one starting with a wildcard takes no `$` topic). */
  private ours(topic: string): boolean {
    const dollar = topic.startsWith("$");
    for (const m of this.matchers) if ((m.takesDollar || !dollar) && m.matches(topic)) return true;
    return false;
  }

  private setMatchers(filters: readonly string[]): void {
    this.matchers = filters.map((f) => ({
      matches: topicMatcher(f),
      takesDollar: !f.startsWith("+") && !f.startsWith("#"),
    }));
  }

  setFilters(filters: readonly string[]): void {
    this.setMatchers(filters);
    const local = this.local;
    if (local === undefined) return;
    const before = local.filters;
    const log = (err: Error) =>
      this.options.logger.error({ err: err.message }, "edge subscription change failed");
    local.add(filters.filter((f) => !before.includes(f))).catch(log);
    local.remove(before.filter((f) => !filters.includes(f))).catch(log);
  }

  /**
   * In-process: no TCP round trip to itself. aedes routes a QoS 1 message after a step of
   * its persistence (a promise), so a result on a topic a source reads comes back in after
   * this routing, never inside it.
   */
  publish(topic: string, payload: Buffer, done: PublishDone): boolean {
    const aedes = this.aedes;
    if (aedes === undefined || aedes.closed) done(new Error("the embedded broker is closed"));
    else publishInProcess(aedes, topic, payload, 1, done);
    return true;
  }

  /** in-process: nothing ever waits */
  readonly queued = 0;

  async stopAccepting(): Promise<void> {
    await this.broker?.stopAccepting();
  }

  /**
   * Delivery in-process is synchronous, so a marker's publish completes after every reading
   * routed before it; at QoS 1 it is routed after the QoS 1 readings accepted before it,
   * which wait on the broker's persistence first (a QoS 0 marker would overtake them).
   * Then the filters go: nothing more reaches the engine (a sensor's last will, published
   * as its connection closed).
   */
  async drain(): Promise<void> {
    const { aedes, local } = this;
    if (aedes === undefined || local === undefined) return;
    const { clock, drainTopic } = this.options;
    await new Promise<void>((resolve) => {
      const timer = clock.setTimer(resolve, EDGE_DRAIN_MS);
      publishInProcess(aedes, drainTopic, Buffer.alloc(0), 1, () => {
        clock.clearTimer(timer);
        resolve();
      });
    });
    await local.remove(local.filters).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.credentialsTimer !== undefined) this.options.clock.clearTimer(this.credentialsTimer);
    await this.broker?.close();
  }
}
