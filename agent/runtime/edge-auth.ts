/**
 * Who may connect to the embedded broker, and what each client may publish and subscribe
 * to (docs/SECURITY.md). A client is identified by its username, checked against the
 * credentials file (`brook passwd`), or by the common name of its TLS client certificate;
 * anonymous clients only where the config allows them. Each identity gets the topic
 * filters of the ACL entries naming it (or `*`), with `{user}` and `{clientid}` filled in;
 * by default a sensor may publish and subscribe only under `sensors/<its user>/`. No client
 * may publish on the agent's own topics (its alerts and local results, `brook/#`): those
 * are the agent's alone. Every refusal is counted by reason.
 */
import type { TLSSocket } from "node:tls";
import { topicMatcher } from "../../rules/topic.js";
import { type PasswordCheck, USER_PATTERN } from "./passwords.js";

export interface AclEntry {
  /** a user name, `*` for every authenticated one, or `anonymous` */
  readonly user: string;
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

export type RefusalReason =
  | "auth"
  | "acl_publish"
  | "acl_subscribe"
  | "own_topic"
  | "connections"
  | "packet_too_large"
  | "revoked";

export interface EdgeAuthOptions {
  /** the credentials file's users; undefined: no passwords are accepted */
  passwords: PasswordCheck | undefined;
  /** TLS client certificates identify clients (by their common name) */
  clientCerts: boolean;
  /** anonymous clients are accepted */
  allowAnonymous: boolean;
  /** undefined: no ACL, every topic but the agent's own (a broker open on loopback) */
  acl: readonly AclEntry[] | undefined;
  refused: (reason: RefusalReason, client: string, topic?: string) => void;
}

interface Identity {
  /** undefined: anonymous */
  readonly user: string | undefined;
  /** the credentials line its password was checked against (none: a certificate, or anonymous) */
  readonly line: string | undefined;
  readonly publish: ((topic: string) => boolean)[];
  readonly subscribe: string[][];
}

/** The topics of the agent's own outputs: templates with `{device}` `{rule}` `{key}` `{kind}`. */
function ownTopicMatcher(templates: readonly string[]): (topic: string) => boolean {
  const res = templates.map(
    (t) =>
      new RegExp(
        `^${t
          .split(/(\{\w+\})/)
          .map((part) =>
            part === "{key}"
              ? ".+"
              : /^\{\w+\}$/.test(part)
                ? "[^/]+"
                : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
          )
          .join("")}$`,
        "s",
      ),
  );
  return (topic) => res.some((re) => re.test(topic));
}

/** Whether every topic `requested` matches is one `allowed` matches (MQTT filters, as level lists). */
export function filterCovers(allowed: readonly string[], requested: readonly string[]): boolean {
  for (let i = 0; i < requested.length; i++) {
    const a = allowed[i];
    const r = requested[i] as string;
    if (a === undefined) return false;
    if (a === "#") return true;
    if (r === "#") return false;
    if (a === "+") continue;
    if (r === "+" || r !== a) return false;
  }
  return allowed.length === requested.length || allowed[requested.length] === "#";
}

export class EdgeAuth {
  private readonly identities = new WeakMap<object, Identity>();
  private ownTopic: (topic: string) => boolean = () => false;
  /** the credentials file's users as they are now (it is read again when it changes) */
  passwords: PasswordCheck | undefined;

  constructor(private readonly options: EdgeAuthOptions) {
    this.passwords = options.passwords;
  }

  /** The agent's own output topics (a reload changes them). */
  setOwnTopics(templates: readonly string[]): void {
    this.ownTopic = ownTopicMatcher(
      ["brook/#", "brook-internal/#", ...templates].map((t) => t.replace(/#$/, "{key}")),
    );
  }

  /** aedes' `authenticate`: a password from the credentials file, a client certificate, or anonymous where allowed. */
  authenticate(
    client: { id: string; conn?: unknown },
    username: string | undefined,
    password: Buffer | undefined,
    done: (ok: boolean) => void,
  ): void {
    const { clientCerts, allowAnonymous } = this.options;
    const passwords = this.passwords;
    const accept = (user: string | undefined, line?: string) => {
      this.identities.set(client, this.identity(user, client.id, line));
      done(true);
    };
    const refuse = () => {
      this.options.refused("auth", client.id);
      done(false);
    };
    const socket = client.conn as Partial<TLSSocket> | undefined;
    if (clientCerts && socket?.authorized === true) {
      const cn = socket.getPeerCertificate?.()?.subject?.CN;
      const name = Array.isArray(cn) ? cn[0] : cn;
      if (typeof name === "string" && name !== "") {
        // A common name is a user name: no `{`, `/`, `+`, `#` to play with the ACL.
        if (USER_PATTERN.test(name)) accept(name);
        else refuse();
        return;
      }
    }
    if (username !== undefined && username !== "" && passwords !== undefined) {
      passwords.verify(username, password ?? Buffer.alloc(0), (ok) =>
        ok ? accept(username, passwords.lineOf(username)) : refuse(),
      );
      return;
    }
    if (allowAnonymous) accept(undefined);
    else refuse();
  }

  /** Whether a client may publish on `topic`; a refusal is counted. */
  mayPublish(client: { id: string } | null, topic: string): boolean {
    const id = client?.id ?? "";
    if (this.ownTopic(topic)) {
      this.options.refused("own_topic", id, topic);
      return false;
    }
    if (this.options.acl === undefined || client === null) return true;
    const identity = this.identities.get(client);
    if (identity?.publish.some((m) => m(topic))) return true;
    this.options.refused("acl_publish", id, topic);
    return false;
  }

  /** Whether a client may subscribe to `filter`; a refusal is counted. */
  maySubscribe(client: { id: string }, filter: string): boolean {
    if (this.options.acl === undefined) return true;
    const identity = this.identities.get(client);
    const levels = filter.split("/");
    if (identity?.subscribe.some((a) => filterCovers(a, levels))) return true;
    this.options.refused("acl_subscribe", client.id, filter);
    return false;
  }

  /**
   * Whether a connected client's identity still holds: a password identity lapses when its
   * user's line in the credentials file is removed or changed.
   */
  stillValid(client: object): boolean {
    const identity = this.identities.get(client);
    if (identity?.line === undefined) return true;
    return this.passwords?.lineOf(identity.user as string) === identity.line;
  }

  private identity(user: string | undefined, clientId: string, line?: string): Identity {
    const acl = this.options.acl ?? [];
    const entries = acl.filter((e) =>
      user === undefined ? e.user === "anonymous" : e.user === "*" || e.user === user,
    );
    // In one pass (what is filled in is not read again), and a user name or client id with
    // a wildcard in it must not widen its own filters.
    const values: Record<string, string> = {
      user: safeLevel(user ?? ""),
      clientid: safeLevel(clientId),
    };
    const fill = (f: string) =>
      f.replace(/\{(user|clientid)\}/g, (_, name: string) => values[name] as string);
    return {
      user,
      line,
      publish: entries.flatMap((e) => e.publish.map((f) => topicMatcher(fill(f)))),
      subscribe: entries.flatMap((e) => e.subscribe.map((f) => fill(f).split("/"))),
    };
  }
}

/** A name as one topic level: without `/`, `+` or `#` (they would widen a filter). */
function safeLevel(name: string): string {
  return name.replace(/[/+#]/g, "_");
}
