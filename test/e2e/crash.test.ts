/**
 * The durability promise from outside, with real processes: sensors (mqtt.js clients,
 * persistent sessions) publish known readings at QoS 1; the agent (`brook agent`) is
 * killed with SIGKILL 19 times at random moments, three times more from inside, in the
 * middle of a reading-log commit, after a checkpoint's save and in the middle of one, its
 * first part written (BROOK_FAULT), and stopped with SIGTERM under
 * load three times; the cloud broker (mosquitto,
 * with persistence) is restarted twice meanwhile; `brook cloud-sink` stores what arrives.
 * At the end the sink must hold exactly the windows computed here, independently, from the
 * readings published: every window, counts exact, mean/min/max to 1e-9, none partial, no
 * conflicts. Both edge modes: the embedded broker, and an external mosquitto.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import mqtt, { type MqttClient } from "mqtt";
import { mulberry32 } from "../../simulators/random.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { brook, eventually, freePort, type Running, stopAfterAll } from "../helpers/process.js";

const SENSORS = 8;
/** Event time of the first reading; readings are 100 ms apart in event time, per sensor. */
const T0 = Date.UTC(2026, 0, 1);
const STEP_MS = 100;
const RULES = `rules:
  - name: second
    window: { type: tumbling, size: 1s }
    aggregates: [count, mean, min, max]
`;

interface Window {
  count: number;
  sum: number;
  min: number;
  max: number;
}

/**
 * The sensors: each publishes its readings in order at QoS 1, the next ~10 ms after the
 * last one's PUBACK, and remembers them. (mqtt.js fails, with "Connection closed", a publish
 * made while it resends after a reconnect if the connection drops again: such a reading was
 * never sent, and the sensor sends it again, as a real sensor's code would.)
 */
function startSensors(url: string, seed: number, cleanups: (() => Promise<unknown>)[]) {
  const random = mulberry32(seed);
  const sent = Array.from({ length: SENSORS }, () => [] as { ts: number; value: number }[]);
  let stopped = false;
  const publish = async (client: MqttClient, s: number, reading: { ts: number; value: number }) => {
    for (;;) {
      try {
        await client.publishAsync(`sensors/dev/s${s}`, JSON.stringify(reading), { qos: 1 });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const loops = Array.from({ length: SENSORS }, async (_, s) => {
    const client = mqtt.connect(url, {
      clientId: `sensor-${s}`,
      clean: false,
      reconnectPeriod: 100,
      connectTimeout: 2_000,
    });
    client.on("error", () => undefined); // refused while the agent is down: it reconnects
    cleanups.push(() => client.endAsync(true));
    const readings = sent[s] as { ts: number; value: number }[];
    while (!stopped) {
      const reading = {
        ts: T0 + readings.length * STEP_MS,
        value: Math.round(random() * 1e6) / 1e3 - 400,
      };
      readings.push(reading);
      await publish(client, s, reading);
      await new Promise((r) => setTimeout(r, 10));
    }
    // One last reading, far ahead, closes every window before it.
    await publish(client, s, { ts: T0 + 1e9, value: 0 });
  });
  return {
    /** Stops publishing, and waits until every reading is acknowledged. */
    async finish() {
      stopped = true;
      await Promise.all(loops);
    },
    /** The windows the rule must produce: every 1 s window of every sensor's readings. */
    expected(): Map<string, Window> {
      const windows = new Map<string, Window>();
      sent.forEach((readings, s) => {
        for (const r of readings) {
          const key = `dev/s${s} ${Math.floor(r.ts / 1000) * 1000}`;
          const w = windows.get(key) ?? { count: 0, sum: 0, min: Infinity, max: -Infinity };
          w.count++;
          w.sum += r.value;
          w.min = Math.min(w.min, r.value);
          w.max = Math.max(w.max, r.value);
          windows.set(key, w);
        }
      });
      return windows;
    },
    published: () => sent.reduce((n, r) => n + r.length, 0),
  };
}

async function crashRun(
  mode: "embedded" | "external",
  seed: number,
  cleanups: (() => Promise<unknown>)[],
) {
  const dir = mkdtempSync(join(tmpdir(), `brook-crash-${mode}-`));
  mkdirSync(join(dir, "cloud-persistence"));
  const cloud: Mosquitto = await startMosquitto(dir, {
    persistenceDir: join(dir, "cloud-persistence"),
  });
  cleanups.push(() => cloud.stop());
  const cloudDb = join(dir, "cloud.db");
  const sink = brook([
    "cloud-sink",
    "--broker",
    cloud.url,
    "--db",
    cloudDb,
    "--client-id",
    `sink-${mode}`,
  ]);
  cleanups.push(() => sink.stop());
  await sink.waitForLine(/cloud sink ready/);
  let edgeUrl: string;
  let edgeConfig: string;
  if (mode === "external") {
    const edge = await startMosquitto(dir);
    cleanups.push(() => edge.stop());
    edgeUrl = edge.url;
    edgeConfig = `edge: { url: ${edge.url} }`;
  } else {
    const port = await freePort();
    edgeUrl = `mqtt://127.0.0.1:${port}`;
    edgeConfig = `edge: { embedded: { port: ${port} } }`;
  }
  writeFileSync(join(dir, "rules.yaml"), RULES);
  const config = join(dir, "config.yaml");
  writeFileSync(
    config,
    [
      `device: crash-${mode}`,
      edgeConfig,
      "rules: rules.yaml",
      "dataDir: ./agent-data",
      `uplink: { url: ${cloud.url}, batchSize: 50 }`,
      "state: { checkpointInterval: 1s }",
      "http: { enabled: false }",
      "",
    ].join("\n"),
  );
  const startAgent = async (fault?: string) => {
    const agent = brook(["agent", "--config", config], {
      env: { ...process.env, BROOK_LOG_LEVEL: "info", ...(fault ? { BROOK_FAULT: fault } : {}) },
    });
    cleanups.push(() => agent.stop("SIGKILL"));
    await agent.waitForLine(/agent ready/, 30_000);
    return agent;
  };
  const random = mulberry32(seed);
  // Sensors start once the agent is first up: the embedded broker comes with it, and an
  // external one keeps readings only for a subscription the agent has made once.
  let sensors: ReturnType<typeof startSensors> | undefined;
  const kills = { outside: 0, commit: 0, checkpoint: 0, checkpointPart: 0, sigterm: 0 };
  let agent: Running;
  for (let round = 0; round < 25; round++) {
    // Three rounds die from inside: in a commit, after a checkpoint's save, and in the
    // middle of one (a part written, the transaction not committed).
    const fault =
      round === 5
        ? `commit:${20 + Math.floor(random() * 200)}`
        : round === 12
          ? "checkpoint:2"
          : round === 17
            ? "checkpoint-part:2"
            : undefined;
    agent = await startAgent(fault);
    sensors ??= startSensors(edgeUrl, seed, cleanups);
    if (round === 7 || round === 15) {
      await cloud.stop(); // the cloud broker restarted, its persistence kept
      await cloud.restart();
    }
    if (fault !== undefined) {
      const end = await agent.exited(30_000);
      ok(
        end === "SIGKILL",
        `the agent died at its fault (${fault}): ${end}\n${agent.output().slice(-2000)}`,
      );
      kills[
        fault.startsWith("commit")
          ? "commit"
          : fault.startsWith("checkpoint-part")
            ? "checkpointPart"
            : "checkpoint"
      ]++;
      continue;
    }
    await new Promise((r) => setTimeout(r, 300 + Math.floor(random() * 1_700)));
    // Three rounds end with SIGTERM under load (in the middle of whatever it is doing, a
    // commit likely): a clean stop, which must lose nothing either.
    if (round === 3 || round === 10 || round === 19) {
      strictEqual(await agent.stop("SIGTERM"), 0, agent.output().slice(-2_000));
      kills.sigterm++;
      continue;
    }
    await agent.stop("SIGKILL");
    kills.outside++;
  }
  agent = await startAgent();
  await sensors?.finish();
  const expected = sensors?.expected() ?? new Map();
  const db = () => new Database(cloudDb, { readonly: true });
  // Every window must arrive; then the sink is read once more after the agent stops cleanly.
  await eventually(
    () => {
      const d = db();
      const n = (
        d.prepare("SELECT count(*) AS n FROM results WHERE kind = 'agg'").get() as { n: number }
      ).n;
      d.close();
      return n >= expected.size ? true : undefined;
    },
    90_000,
    `${expected.size} windows in the sink`,
  );
  ok((await agent.stop()) === 0, agent.output().slice(-3_000));
  const d = db();
  const rows = d
    .prepare(
      "SELECT key, window_start, partial, body FROM results WHERE kind = 'agg' AND rule = 'second'",
    )
    .all() as { key: string; window_start: number; partial: number; body: string }[];
  const stats = Object.fromEntries(
    (
      d.prepare("SELECT name, value FROM sink_stats").all() as { name: string; value: number }[]
    ).map((s) => [s.name, s.value]),
  );
  d.close();
  const found = new Map(rows.map((r) => [`${r.key} ${r.window_start}`, r]));
  const missing = [...expected.keys()].filter((k) => !found.has(k));
  const extra = [...found.keys()].filter((k) => !expected.has(k));
  let wrong = 0;
  let partial = 0;
  const off: string[] = [];
  for (const [key, w] of expected) {
    const row = found.get(key);
    if (row === undefined) continue;
    if (row.partial !== 0) partial++;
    const a = (JSON.parse(row.body) as { aggregates: Record<string, number> }).aggregates;
    const close = (x: number | undefined, y: number) =>
      x !== undefined && Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));
    if (
      a.count !== w.count ||
      !close(a.mean, w.sum / w.count) ||
      !close(a.min, w.min) ||
      !close(a.max, w.max)
    ) {
      wrong++;
      if (off.length < 3) off.push(`${key}: got ${JSON.stringify(a)}, expected count ${w.count}`);
    }
  }
  const result = {
    mode,
    kills,
    readingsPublished: sensors?.published() ?? 0,
    windowsExpected: expected.size,
    windowsFound: rows.length,
    missing: missing.length,
    extra: extra.length,
    wrong,
    partial,
    duplicates: stats.duplicates ?? 0,
    conflicts: stats.conflicts ?? 0,
  };
  console.log(`crash run: ${JSON.stringify(result)}`);
  deepStrictEqual(
    {
      missing: missing.slice(0, 3),
      extra: extra.slice(0, 3),
      wrong: off,
      partial,
      conflicts: result.conflicts,
    },
    { missing: [], extra: [], wrong: [], partial: 0, conflicts: 0 },
  );
  deepStrictEqual(kills, { outside: 19, commit: 1, checkpoint: 1, checkpointPart: 1, sigterm: 3 });
}

describe("no acknowledged reading is lost: 22 crashes, 3 SIGTERMs, 2 cloud restarts, real processes", () => {
  const cleanups = stopAfterAll();

  it("embedded broker: the sink holds exactly the windows of the published readings", async () => {
    await crashRun("embedded", 1701, cleanups);
  });

  it("external mosquitto as the edge broker: the same", async () => {
    await crashRun("external", 1702, cleanups);
  });
});
