/**
 * Cloud sync under faults, with real processes: an edge mosquitto that sensors publish
 * to, the agent as a child process (`brook agent`), a cloud mosquitto started by the test
 * (with persistence, as a production broker would run), and `brook cloud-sink`.
 *
 * The agent writes every record it commits to the outbox to an audit file
 * (BROOK_OUTBOX_AUDIT_FILE) right after the commit. Afterwards, every audited result must
 * be in the sink exactly once by id, at its highest audited revision, with a body whose
 * SHA-256 is one the agent committed for that id and revision — none missing, none
 * corrupted — and what came twice over the wire is counted and collapsed.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import mqtt, { type MqttClient } from "mqtt";
import { mulberry32 } from "../../simulators/random.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { brook, eventually, type Running, stopAfterAll } from "../helpers/process.js";

const RULES = `rules:
  - name: second
    window: { type: tumbling, size: 1s }
    aggregates: [count, mean, max]
  - name: hop
    window: { type: hopping, size: 2s, hop: 1s }
    aggregates: [count, p95]
`;

interface Rig {
  dir: string;
  edge: Mosquitto;
  cloud: Mosquitto;
  sink: Running;
  audit: string;
  config: string;
  cloudDb: string;
  publisher: MqttClient;
  published: () => number;
  pause: (paused: boolean) => void;
  startAgent: () => Promise<{ agent: Running; http: number }>;
  cleanups: (() => Promise<unknown>)[];
}

/** Sensors publishing readings to the edge broker at ~200/s (10 sensors × 20 Hz), event time = now. */
function startPublishing(client: MqttClient) {
  let n = 0;
  let paused = false;
  const timer = setInterval(() => {
    if (paused || !client.connected) return;
    const ts = Date.now();
    for (let s = 0; s < 10; s++) {
      client.publish(`sensors/dev-${s}/temp`, JSON.stringify({ ts, value: 20 + ((n + s) % 7) }), {
        qos: 1,
      });
      n++;
    }
  }, 50);
  return {
    stop: () => clearInterval(timer),
    published: () => n,
    pause: (p: boolean) => (paused = p),
  };
}

async function rig(name: string, cleanups: (() => Promise<unknown>)[]): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), `brook-faults-${name}-`));
  mkdirSync(join(dir, "cloud-persistence"));
  const edge = await startMosquitto(dir);
  cleanups.push(() => edge.stop());
  const cloud = await startMosquitto(dir, { persistenceDir: join(dir, "cloud-persistence") });
  cleanups.push(() => cloud.stop());
  const cloudDb = join(dir, "cloud.db");
  const sink = brook([
    "cloud-sink",
    "--broker",
    cloud.url,
    "--db",
    cloudDb,
    "--client-id",
    `sink-${name}`,
  ]);
  cleanups.push(() => sink.stop());
  await sink.waitForLine(/cloud sink ready/);
  writeFileSync(join(dir, "rules.yaml"), RULES);
  const config = join(dir, "config.yaml");
  writeFileSync(
    config,
    [
      "device: faulty-pi",
      `edge: { url: ${edge.url} }`,
      "rules: rules.yaml",
      "dataDir: ./agent-data",
      `uplink: { url: ${cloud.url}, batchSize: 20, maxInFlight: 4 }`,
      "state: { checkpointInterval: 1s }",
      "http: { port: 0 }",
      "",
    ].join("\n"),
  );
  const audit = join(dir, "audit.jsonl");
  const publisher = await mqtt.connectAsync(edge.url, { clientId: `sensors-${name}` });
  const pub = startPublishing(publisher);
  cleanups.push(async () => {
    pub.stop();
    await publisher.endAsync(true);
  });
  const startAgent = async () => {
    const agent = brook(["agent", "--config", config], {
      env: { ...process.env, BROOK_OUTBOX_AUDIT_FILE: audit },
    });
    cleanups.push(() => agent.stop("SIGKILL"));
    const ready = JSON.parse(await agent.waitForLine(/agent ready/)) as { http: number };
    return { agent, http: ready.http };
  };
  return {
    dir,
    edge,
    cloud,
    sink,
    audit,
    config,
    cloudDb,
    publisher,
    published: pub.published,
    pause: pub.pause,
    startAgent,
    cleanups,
  };
}

interface Status {
  outboxDepth: number;
  uplink: string;
  uplinkInFlight: number;
}

async function status(http: number): Promise<Status> {
  return (await (await fetch(`http://127.0.0.1:${http}/healthz`)).json()) as Status;
}

async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the agent's outbox is empty and nothing is in flight. */
function drained(http: number, timeoutMs: number): Promise<Status> {
  return waitFor(
    async () => {
      const s = await status(http);
      return s.outboxDepth === 0 && s.uplinkInFlight === 0 ? s : undefined;
    },
    timeoutMs,
    "the outbox to drain",
  );
}

interface Audited {
  /** id → revision → set of SHA-256 of committed payloads */
  byId: Map<string, Map<number, Set<string>>>;
  lines: number;
}

function readAudit(file: string): Audited {
  const byId = new Map<string, Map<number, Set<string>>>();
  let lines = 0;
  for (const line of existsSync(file) ? readFileSync(file, "utf8").split("\n") : []) {
    let rec: { id: string; revision: number; sha256: string };
    try {
      rec = JSON.parse(line);
    } catch {
      continue; // the last line of a process killed mid-write
    }
    lines++;
    let revs = byId.get(rec.id);
    if (revs === undefined) {
      revs = new Map();
      byId.set(rec.id, revs);
    }
    let hashes = revs.get(rec.revision);
    if (hashes === undefined) {
      hashes = new Set();
      revs.set(rec.revision, hashes);
    }
    hashes.add(rec.sha256);
  }
  return { byId, lines };
}

/** Stops the sensors, drains the agent, stops it cleanly, and checks the sink against the audit. */
async function verify(r: Rig, agent: { agent: Running; http: number }) {
  r.pause(true);
  await drained(agent.http, 60_000);
  strictEqual(await agent.agent.stop(), 0, agent.agent.output().slice(-3_000));
  const audit = readAudit(r.audit);
  ok(audit.byId.size > 100, `only ${audit.byId.size} results audited`);
  const db = new Database(r.cloudDb, { readonly: true });
  const rows = () =>
    db.prepare("SELECT id, revision, body FROM results WHERE kind != 'late'").all() as {
      id: string;
      revision: number;
      body: string;
    }[];
  // The sink commits what the broker already acknowledged to the agent; give it a moment.
  const inSink = await eventually(
    () => {
      const all = new Map(rows().map((row) => [row.id, row]));
      return [...audit.byId.keys()].every((id) => all.has(id)) ? all : undefined;
    },
    30_000,
    "every audited result in the cloud sink",
  ).catch((err: Error) => {
    const all = new Set(rows().map((row) => row.id));
    const missing = [...audit.byId.keys()].filter((id) => !all.has(id));
    throw new Error(
      `${err.message}: ${missing.length} of ${audit.byId.size} missing, e.g. ${missing.slice(0, 3).join(", ")}`,
    );
  });
  let corrupted = 0;
  let behind = 0;
  for (const [id, revs] of audit.byId) {
    const row = inSink.get(id);
    if (row === undefined) continue;
    const top = Math.max(...revs.keys());
    if (row.revision < top) behind++;
    const hashes = revs.get(row.revision);
    if (hashes !== undefined && !hashes.has(createHash("sha256").update(row.body).digest("hex")))
      corrupted++;
  }
  const stats = db.prepare("SELECT name, value FROM sink_stats").all() as {
    name: string;
    value: number;
  }[];
  db.close();
  const counters = Object.fromEntries(stats.map((s) => [s.name, s.value]));
  deepStrictEqual({ behind, corrupted }, { behind: 0, corrupted: 0 });
  return { audited: audit.byId.size, auditLines: audit.lines, sinkRows: inSink.size, counters };
}

describe("cloud sync under faults (real mosquitto, real processes)", () => {
  const cleanups = stopAfterAll();

  it("(a) the cloud broker stopped and restarted 5 times during ingest: nothing lost", async () => {
    const r = await rig("outages", cleanups);
    const agent = await r.startAgent();
    for (let outage = 0; outage < 5; outage++) {
      await new Promise((res) => setTimeout(res, 1_500));
      await r.cloud.stop(); // SIGTERM: a clean broker shutdown, saving its persistence
      await new Promise((res) => setTimeout(res, 1_000));
      await r.cloud.restart();
    }
    await new Promise((res) => setTimeout(res, 1_000));
    const result = await verify(r, agent);
    console.log(`(a) 5 outages: ${JSON.stringify(result)}`);
  });

  it("(b) the agent killed with SIGKILL 20 times at random moments and restarted: every committed result arrives once", async () => {
    const r = await rig("sigkill", cleanups);
    const random = mulberry32(4242);
    let kills = 0;
    for (; kills < 20; kills++) {
      const { agent } = await r.startAgent();
      await new Promise((res) => setTimeout(res, 200 + Math.floor(random() * 1_300)));
      await agent.stop("SIGKILL");
    }
    const last = await r.startAgent();
    await new Promise((res) => setTimeout(res, 1_500));
    const result = await verify(r, last);
    console.log(`(b) ${kills} SIGKILLs: ${JSON.stringify(result)}`);
    ok(
      (result.counters.duplicates ?? 0) +
        (result.counters.conflicts ?? 0) +
        (result.counters.stale ?? 0) >
        0,
      "a kill mid-flight resends something",
    );
  });

  it("(c) the cloud broker killed between PUBLISH and PUBACK, 3 times: the unacknowledged results are resent", async () => {
    const r = await rig("puback", cleanups);
    const agent = await r.startAgent();
    for (let kill = 0; kill < 3; kill++) {
      await new Promise((res) => setTimeout(res, 1_500));
      // Quiesce, so the broker has delivered and saved everything it acknowledged...
      r.pause(true);
      await drained(agent.http, 30_000);
      await new Promise((res) => setTimeout(res, 1_500)); // its autosave runs every second
      // ...then freeze it, let the agent publish into it, and kill it before any PUBACK.
      r.cloud.signal("SIGSTOP");
      r.pause(false);
      await waitFor(
        async () => {
          const s = await status(agent.http);
          return s.uplinkInFlight > 0 ? s : undefined;
        },
        30_000,
        "results in flight to the frozen broker",
      );
      r.cloud.signal("SIGKILL");
      await r.cloud.process.exited();
      await r.cloud.restart();
    }
    await new Promise((res) => setTimeout(res, 1_000));
    const result = await verify(r, agent);
    console.log(`(c) 3 kills between PUBLISH and PUBACK: ${JSON.stringify(result)}`);
  });
});
