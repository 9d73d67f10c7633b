/**
 * Validate once, then freeze (CONVENTIONS.md 8): read the YAML config, apply `BROOK_*`
 * environment overrides, validate against the one schema (filling defaults), resolve
 * relative paths against the config file's folder, and deep-freeze the result.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { TSchema } from "@sinclair/typebox";
import { parseByteSize, parseDuration } from "../../rules/duration.js";
import {
  deepFreeze,
  formatProblem,
  type Problem,
  parseYamlDocument,
  schemaProblems,
} from "../../rules/validate-yaml.js";
import { BrookError } from "../errors.js";
import { type AgentConfig, ConfigSchema } from "./schema.js";
// Compiled from ./schema.ts by `npm run schema` (scripts/validators.ts).
import { ConfigSchema as validateConfig } from "./validators.gen.cjs";

export type { AgentConfig };

/** The embedded broker's authentication, access control, TLS and limits, with defaults applied (docs/SECURITY.md). */
export interface EdgeSecurity {
  /** the credentials file (brook passwd); undefined: no passwords */
  readonly passwords: string | undefined;
  readonly allowAnonymous: boolean;
  /** undefined: no ACL (a broker open on loopback) */
  readonly acl:
    | readonly { user: string; publish: readonly string[]; subscribe: readonly string[] }[]
    | undefined;
  readonly tls:
    | {
        readonly port: number;
        readonly cert: string;
        readonly key: string;
        readonly ca: string | undefined;
        readonly requireClientCert: boolean;
        /** where the plain listener takes connections beside TLS */
        readonly plain: "loopback" | "everywhere";
      }
    | undefined;
  readonly limits: {
    readonly maxConnections: number;
    readonly maxPacketBytes: number;
    readonly publishRate: number;
    readonly maxQueuedBytes: number;
    readonly maxRetainedBytes: number;
  };
}

/** Every authenticated client: its own prefix under the default source's topic. */
const DEFAULT_ACL = [{ user: "*", publish: ["sensors/{user}/#"], subscribe: ["sensors/{user}/#"] }];

/** Where listening needs no authentication: this machine only. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The config after validation: edge mode made explicit, paths absolute, everything frozen. */
export interface ResolvedConfig {
  readonly device: string;
  readonly edge:
    | ({ readonly mode: "embedded"; readonly host: string; readonly port: number } & EdgeSecurity)
    | {
        readonly mode: "external";
        readonly url: string;
        readonly username?: string;
        readonly password?: string;
      };
  readonly rulesFile: string | undefined;
  readonly dataDir: string;
  readonly uplink: AgentConfig["uplink"];
  readonly http: AgentConfig["http"];
  readonly state: { readonly maxBytes: number; readonly checkpointIntervalMs: number };
  /** the reading log: undefined when it is off */
  readonly readingLog: { readonly maxBytes: number; readonly sync: boolean } | undefined;
  readonly outbox: {
    readonly synchronous: "NORMAL" | "FULL";
    readonly maxBytes: number;
    readonly maxRows: number;
    readonly maxAgeMs: number;
  };
  /** bytes/s over the uplink, or undefined for no cap */
  readonly uplinkMaxBytesPerSecond: number | undefined;
  readonly maxFutureMs: number;
}

interface EnvField {
  env: string;
  path: string[];
  type: string;
}

/** Every leaf field of the schema, with the environment variable that overrides it. */
export const ENV_FIELDS: readonly EnvField[] = collectEnvFields(ConfigSchema, []);

function collectEnvFields(schema: TSchema, path: string[]): EnvField[] {
  if (schema.type === "object" && schema.properties !== undefined) {
    return Object.entries(schema.properties as Record<string, TSchema>).flatMap(([k, v]) =>
      collectEnvFields(v, [...path, k]),
    );
  }
  const env = `BROOK_${path.map((p) => p.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()).join("_")}`;
  return [{ env, path, type: String(schema.type) }];
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new BrookError(
      "BROOK_ERR_CONFIG_UNREADABLE",
      `cannot read config file ${file} (${reason})`,
    );
  }
  return parseConfig(file, text, env);
}

export function parseConfig(
  file: string,
  text: string,
  env: NodeJS.ProcessEnv = {},
): ResolvedConfig {
  const doc = parseYamlDocument(file, text);
  fail(file, doc.problems);
  const value = doc.value ?? {};
  if (typeof value !== "object" || Array.isArray(value)) {
    fail(file, [{ where: `${file}:1:1`, path: "", message: "must be a mapping of fields" }]);
  }
  const overrides = applyEnv(value as Record<string, unknown>, env);
  // A problem is blamed on an environment variable when it concerns that field, or an
  // object the variable created (e.g. BROOK_UPLINK_USERNAME with no uplink in the file).
  const fromEnv = (segments: string[]): string | undefined => {
    const path = segments.join(".");
    const hit =
      overrides.find((o) => o.path.join(".") === path) ??
      overrides.find((o) => o.created !== undefined && `${path}.`.startsWith(`${o.created}.`));
    return hit === undefined ? undefined : `env ${hit.env}`;
  };
  const problems: Problem[] = [];
  if (!validateConfig(value)) {
    problems.push(...schemaProblems(validateConfig.errors ?? [], doc.locate, fromEnv));
  }
  fail(file, problems);
  return resolveConfig(file, value as AgentConfig, doc.locate, fromEnv);
}

interface AppliedEnv extends EnvField {
  /** the path of the outermost object this override had to create, if any */
  created?: string;
}

function applyEnv(target: Record<string, unknown>, env: NodeJS.ProcessEnv): AppliedEnv[] {
  const applied: AppliedEnv[] = [];
  for (const field of ENV_FIELDS) {
    const raw = env[field.env];
    if (raw === undefined) continue;
    let node = target;
    let created: string | undefined;
    field.path.slice(0, -1).forEach((key, i) => {
      if (typeof node[key] !== "object" || node[key] === null) {
        node[key] = {};
        created ??= field.path.slice(0, i + 1).join(".");
      }
      node = node[key] as Record<string, unknown>;
    });
    node[field.path[field.path.length - 1] as string] = coerce(raw, field.type);
    applied.push({ ...field, created });
  }
  // An edge URL from the environment replaces an embedded broker set in the file.
  const edge = target.edge as Record<string, unknown> | undefined;
  if (
    env.BROOK_EDGE_URL !== undefined &&
    edge !== undefined &&
    env.BROOK_EDGE_EMBEDDED_PORT === undefined &&
    env.BROOK_EDGE_EMBEDDED_HOST === undefined
  ) {
    delete edge.embedded;
  }
  return applied;
}

/** Environment values are strings; turn them into the field's type so the schema can judge them. */
function coerce(raw: string, type: string): unknown {
  if (type === "integer" || type === "number") {
    const n = Number(raw);
    return raw.trim() === "" || !Number.isFinite(n) ? raw : n;
  }
  if (type === "boolean") return raw === "true" ? true : raw === "false" ? false : raw;
  return raw;
}

function resolveConfig(
  file: string,
  config: AgentConfig,
  locate: (path: (string | number)[]) => string,
  fromEnv: (path: string[]) => string | undefined,
): ResolvedConfig {
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const where = (path: string[]) => fromEnv(path) ?? locate(path);
  const problems: Problem[] = [];
  if (config.edge.url !== undefined && config.edge.embedded !== undefined) {
    problems.push({
      where: where(["edge", "url"]),
      path: "edge.url",
      message: "set either edge.url (an external broker) or edge.embedded, not both",
    });
  }
  const problem = (path: string[], message: string) =>
    problems.push({ where: where(path), path: path.join("."), message });
  const readable = (path: string[], file: string | undefined) => {
    if (file === undefined) return undefined;
    const unreadable = cannotRead(abs(file));
    if (unreadable !== undefined) problem(path, unreadable);
    return abs(file);
  };
  const edge: ResolvedConfig["edge"] =
    config.edge.url !== undefined
      ? {
          mode: "external",
          url: config.edge.url,
          username: config.edge.username,
          password: config.edge.password,
        }
      : { mode: "embedded", ...embeddedEdge(config.edge.embedded, readable, problem) };
  const uplink = config.uplink === undefined ? undefined : structuredClone(config.uplink);
  if (uplink?.tls !== undefined) {
    for (const key of ["ca", "cert", "key"] as const) {
      const p = uplink.tls[key];
      if (p === undefined) continue;
      uplink.tls[key] = abs(p);
      const unreadable = cannotRead(abs(p));
      if (unreadable !== undefined) {
        problems.push({
          where: where(["uplink", "tls", key]),
          path: `uplink.tls.${key}`,
          message: unreadable,
        });
      }
    }
  }
  const rulesFile = config.rules === undefined ? undefined : abs(config.rules);
  const rulesUnreadable = rulesFile === undefined ? undefined : cannotRead(rulesFile);
  if (rulesUnreadable !== undefined) {
    problems.push({ where: where(["rules"]), path: "rules", message: rulesUnreadable });
  }
  const maxBytes = parseByteSize(config.state.maxBytes) as number;
  if (maxBytes < 65_536) problem(["state", "maxBytes"], "must be at least 64KiB");
  for (const [path, value] of [
    [["uplink", "maxBytesPerSecond"], config.uplink?.maxBytesPerSecond],
    [["uplink", "maxBatchBytes"], config.uplink?.maxBatchBytes],
    [["outbox", "maxBytes"], config.outbox.maxBytes],
  ] as [string[], string | number | undefined][]) {
    if (value !== undefined && (parseByteSize(value) ?? 0) < 1)
      problem(path, "must be at least 1 byte");
  }
  const logBytes = parseByteSize(config.readingLog.maxBytes) as number;
  if (logBytes < 1_048_576) problem(["readingLog", "maxBytes"], "must be at least 1MiB");
  const checkpointIntervalMs = parseDuration(config.state.checkpointInterval) as number;
  if (checkpointIntervalMs < 1_000) problem(["state", "checkpointInterval"], "must be at least 1s");
  fail(file, problems);
  return deepFreeze({
    device: config.device,
    edge,
    rulesFile,
    dataDir: abs(config.dataDir),
    uplink,
    http: { ...config.http },
    state: { maxBytes, checkpointIntervalMs },
    readingLog: config.readingLog.enabled
      ? { maxBytes: logBytes, sync: config.readingLog.synchronous === "FULL" }
      : undefined,
    outbox: {
      synchronous: config.outbox.synchronous,
      maxBytes:
        config.outbox.maxBytes === undefined
          ? Number.POSITIVE_INFINITY
          : (parseByteSize(config.outbox.maxBytes) as number),
      maxRows: config.outbox.maxRows ?? Number.POSITIVE_INFINITY,
      maxAgeMs:
        config.outbox.maxAge === undefined
          ? Number.POSITIVE_INFINITY
          : (parseDuration(config.outbox.maxAge) as number),
    },
    uplinkMaxBytesPerSecond:
      config.uplink?.maxBytesPerSecond === undefined
        ? undefined
        : parseByteSize(config.uplink.maxBytesPerSecond),
    maxFutureMs: parseDuration(config.maxFuture) as number,
  });
}

type Embedded = NonNullable<AgentConfig["edge"]["embedded"]>;

/** The embedded broker's settings with their defaults; listening beyond loopback without authentication is a problem. */
function embeddedEdge(
  embedded: Embedded | undefined,
  readable: (path: string[], file: string | undefined) => string | undefined,
  problem: (path: string[], message: string) => void,
): { host: string; port: number } & EdgeSecurity {
  const at = (...path: string[]) => ["edge", "embedded", ...path];
  const host = embedded?.host ?? "127.0.0.1";
  const passwords = readable(at("auth", "passwords"), embedded?.auth?.passwords);
  const t = embedded?.tls;
  const tls =
    t === undefined
      ? undefined
      : {
          port: t.port,
          cert: readable(at("tls", "cert"), t.cert) as string,
          key: readable(at("tls", "key"), t.key) as string,
          ca: readable(at("tls", "ca"), t.ca),
          requireClientCert: t.requireClientCert,
          plain: t.plain ?? "loopback",
        };
  if (tls?.requireClientCert && tls.ca === undefined)
    problem(at("tls", "ca"), "requireClientCert needs the CA that signs the client certificates");
  const authenticated = passwords !== undefined || tls?.requireClientCert === true;
  const allowAnonymous = embedded?.auth?.allowAnonymous ?? (!authenticated && isLoopback(host));
  if (!isLoopback(host) && !authenticated && !allowAnonymous)
    problem(
      at("host"),
      `the embedded broker would listen on ${host} without authentication: anyone on the network could publish readings and read alerts. Set edge.embedded.auth.passwords (a file made with brook passwd), or edge.embedded.tls with requireClientCert and ca, or listen on 127.0.0.1; auth.allowAnonymous: true accepts anyone deliberately`,
    );
  const limits = embedded?.limits;
  return {
    host,
    port: embedded?.port ?? 1883,
    passwords,
    allowAnonymous,
    acl: embedded?.acl ?? (authenticated ? DEFAULT_ACL : undefined),
    tls,
    limits: {
      maxConnections: limits?.maxConnections ?? 1_000,
      maxPacketBytes: parseByteSize(limits?.maxPacketBytes ?? "64KiB") as number,
      publishRate: limits?.publishRate ?? 10_000,
      maxQueuedBytes: parseByteSize(limits?.maxQueuedBytes ?? "8MiB") as number,
      maxRetainedBytes: parseByteSize(limits?.maxRetainedBytes ?? "1MiB") as number,
    },
  };
}

/** Why a file the config names cannot be read, or undefined if it can. */
function cannotRead(path: string): string | undefined {
  try {
    readFileSync(path);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT"
      ? `file not found: ${path}`
      : `cannot read ${path} (${code ?? String(err)})`;
  }
}

function fail(file: string, problems: readonly Problem[]): void {
  if (problems.length === 0) return;
  const details = problems.map(formatProblem);
  throw new BrookError(
    "BROOK_ERR_CONFIG_INVALID",
    `invalid config ${file} (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n  ${details.join("\n  ")}`,
    details,
  );
}
