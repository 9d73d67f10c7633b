/**
 * A fleet on one machine, with the real parts (docs/SINK.md "The fleet run"): a cloud
 * mosquitto (persistence on), PostgreSQL, N agents (processes, each its own data directory,
 * device id and embedded broker, fed by its own `brook sim`), K `brook cloud-sink`s in one
 * `--group` writing to PostgreSQL. Midway a sink and an agent are killed (SIGKILL) and
 * restarted, as a supervisor would. At the end every result each agent committed to its
 * outbox (its audit file, BROOK_OUTBOX_AUDIT_FILE) must be in PostgreSQL exactly once, at
 * its highest revision; the report gives results/s into the database and each sink's share.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startMosquitto } from "../test/helpers/mosquitto.js";
import { startPostgres } from "../test/helpers/postgres.js";
import { freePort, type Running, start } from "../test/helpers/process.js";

export interface FleetOptions {
  /** how to run brook: the command and the arguments before the subcommand */
  brook: [string, string[]];
  devices: number;
  sinks: number;
  /** how long the simulators publish */
  seconds: number;
  /** sensors per device, each read every 100 ms */
  sensors: number;
  log?: (line: string) => void;
}

export interface FleetReport {
  devices: number;
  sinks: number;
  seconds: number;
  readingsPerDevicePerSec: number;
  /** distinct results the agents committed (their audits), and the copies of them (revisions, resends after the kill) */
  results: number;
  auditedRecords: number;
  rowsInDatabase: number;
  missing: number;
  wrongRevision: number;
  notAudited: number;
  exactlyOnce: boolean;
  /** rows written (inserted or updated) a second, from the first row received to the last */
  resultsPerSecIntoDatabase: number;
  /** per sink (client id): the results it handled, and their share */
  perSink: Record<string, { results: number; share: number }>;
  killed: { sink: string; agent: string };
}

const KINDS = ["temperature", "humidity", "pressure", "vibration", "energy", "door"];
const RULES = `rules:
  - name: per-second
    window: { type: tumbling, size: 1s }
    aggregates: [count, mean, min, max]
    idleTimeout: 2s
  - name: spikes
    window: { type: count, n: 60 }
    aggregates: []
    detectors: [{ type: zscore, threshold: 3.5 }]
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runFleet(o: FleetOptions): Promise<FleetReport> {
  const log = o.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), "brook-fleet-"));
  const stops: (() => Promise<unknown>)[] = [];
  const run = (args: string[], env?: NodeJS.ProcessEnv, cwd?: string) =>
    start(o.brook[0], [...o.brook[1], ...args], { env: { ...process.env, ...env }, cwd });
  try {
    mkdirSync(join(dir, "cloud-persistence"));
    const cloud = await startMosquitto(dir, { persistenceDir: join(dir, "cloud-persistence") });
    stops.push(() => cloud.stop());
    const db = await startPostgres();
    stops.push(() => db.stop());
    log(`cloud ${cloud.url}, PostgreSQL ${db.url}`);

    const sinks = new Map<string, Running>();
    const startSink = async (id: string) => {
      const sink = run([
        "cloud-sink",
        "--broker",
        cloud.url,
        "--db",
        db.url,
        "--group",
        "fleet",
        "--client-id",
        id,
      ]);
      sinks.set(id, sink);
      await sink.waitForLine(/cloud sink ready/, 30_000);
    };
    for (let k = 0; k < o.sinks; k++) await startSink(`sink-${k}`);
    stops.push(async () => {
      for (const s of sinks.values()) await s.stop().catch(() => s.child.kill("SIGKILL"));
    });

    writeFileSync(join(dir, "rules.yaml"), RULES);
    const agents = new Map<string, { proc: Running; config: string; audit: string }>();
    const edgePorts = new Map<string, number>();
    const startAgent = async (device: string) => {
      const home = join(dir, device);
      mkdirSync(home, { recursive: true });
      const port = edgePorts.get(device) ?? (await freePort());
      edgePorts.set(device, port);
      const config = join(home, "config.yaml");
      writeFileSync(
        config,
        [
          `device: ${device}`,
          `edge: { embedded: { host: 127.0.0.1, port: ${port} } }`,
          `rules: ${join(dir, "rules.yaml")}`,
          `dataDir: ${join(home, "data")}`,
          `uplink: { url: ${cloud.url}, clientId: ${device} }`,
          "http: { enabled: false }",
          "",
        ].join("\n"),
      );
      const audit = join(home, "audit.jsonl");
      const proc = run(["agent", "-c", config], { BROOK_OUTBOX_AUDIT_FILE: audit }, home);
      agents.set(device, { proc, config, audit });
      await proc.waitForLine(/agent ready/, 60_000);
      return port;
    };
    const devices = Array.from({ length: o.devices }, (_, d) => `pi-${String(d).padStart(3, "0")}`);
    const sims: Running[] = [];
    stops.push(async () => {
      for (const s of sims) await s.stop().catch(() => undefined);
      for (const a of agents.values())
        await a.proc.stop().catch(() => a.proc.child.kill("SIGKILL"));
    });
    const started = Date.now();
    for (const [d, device] of devices.entries()) {
      const port = await startAgent(device);
      sims.push(
        run([
          "sim",
          "--broker",
          `mqtt://127.0.0.1:${port}`,
          "--client-id",
          `sim-${device}`,
          "--devices",
          "1",
          "--sensors",
          KINDS.slice(0, o.sensors).join(","),
          "--interval",
          "100ms",
          "--duration",
          `${o.seconds}s`,
          "--start",
          "now",
          "--seed",
          String(d + 1),
          "--qos",
          "1",
        ]),
      );
    }
    log(`${o.devices} agents and simulators started in ${Date.now() - started} ms`);

    // Midway: a sink and an agent killed, and started again a second later.
    await sleep((o.seconds * 1000) / 2);
    const victimSink = "sink-0";
    const victimAgent = devices[Math.floor(devices.length / 2)] as string;
    sinks.get(victimSink)?.child.kill("SIGKILL");
    agents.get(victimAgent)?.proc.child.kill("SIGKILL");
    log(`killed ${victimSink} and the agent of ${victimAgent} (SIGKILL)`);
    await sleep(1_000);
    await startSink(victimSink);
    await startAgent(victimAgent);
    log(`restarted ${victimSink} and ${victimAgent}`);

    for (const s of sims) await s.exited(o.seconds * 1000 + 120_000);
    const simsEnded = Date.now();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    stops.push(() => client.end());
    const rows = async () =>
      new Map(
        (
          await client.query<{ id: string; revision: number }>("SELECT id, revision FROM results")
        ).rows.map((r) => [r.id, r.revision]),
      );
    // The last windows close 2 s after their sensors' last readings (idleTimeout), are
    // committed and sent: wait until the database holds every result audited so far.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { expected } = readAudits([...agents.values()].map((a) => a.audit));
      const stored = await rows();
      const complete = [...expected].every(([id, revision]) => stored.get(id) === revision);
      if ((complete && Date.now() - simsEnded > 5_000) || Date.now() > deadline) break;
      await sleep(500);
    }
    // Stopped cleanly: nothing is open any more, so nothing new is committed.
    await Promise.all([...agents.values()].map((a) => a.proc.stop()));
    for (const s of sinks.values()) await s.stop();
    const { expected, audited } = readAudits([...agents.values()].map((a) => a.audit));
    const stored = await rows();

    let missing = 0;
    let wrongRevision = 0;
    for (const [id, revision] of expected) {
      const got = stored.get(id);
      if (got === undefined) missing++;
      else if (got !== revision) wrongRevision++;
    }
    const notAudited = [...stored.keys()].filter((id) => !expected.has(id)).length;
    const perSinkRows = await client.query<{ sink: string; n: string }>(
      "SELECT sink, sum(value)::bigint AS n FROM sink_stats WHERE name IN ('inserted','updated','duplicates','stale','conflicts') GROUP BY sink ORDER BY sink",
    );
    const total = perSinkRows.rows.reduce((n, r) => n + Number(r.n), 0);
    const span = await client.query<{ first: string; last: string }>(
      "SELECT min(received_at) AS first, max(received_at) AS last FROM results",
    );
    const s = span.rows[0] as { first: string; last: string };
    const seconds = Math.max(1, (Number(s.last) - Number(s.first)) / 1000);
    const written = await client.query<{ n: string }>(
      "SELECT coalesce(sum(value), 0)::bigint AS n FROM sink_stats WHERE name IN ('inserted', 'updated')",
    );
    return {
      devices: o.devices,
      sinks: o.sinks,
      seconds: o.seconds,
      readingsPerDevicePerSec: o.sensors * 10,
      results: expected.size,
      auditedRecords: audited,
      rowsInDatabase: stored.size,
      missing,
      wrongRevision,
      notAudited,
      exactlyOnce: missing === 0 && wrongRevision === 0 && notAudited === 0,
      resultsPerSecIntoDatabase: Math.round(Number(written.rows[0]?.n ?? 0) / seconds),
      perSink: Object.fromEntries(
        perSinkRows.rows.map((r) => [
          r.sink,
          {
            results: Number(r.n),
            share: Math.round((Number(r.n) / Math.max(1, total)) * 1000) / 1000,
          },
        ]),
      ),
      killed: { sink: victimSink, agent: victimAgent },
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every result the agents committed (their audit files): the highest revision of each id, and how many records. */
function readAudits(files: readonly string[]): { expected: Map<string, number>; audited: number } {
  const expected = new Map<string, number>();
  let audited = 0;
  for (const file of files) {
    // An agent that committed nothing has no audit file.
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      // A line cut short by a SIGKILL is the end of what that process audited.
      if (line === "" || !line.endsWith("}")) continue;
      const r = JSON.parse(line) as { id: string; revision: number };
      audited++;
      expected.set(r.id, Math.max(r.revision, expected.get(r.id) ?? -1));
    }
  }
  return { expected, audited };
}
