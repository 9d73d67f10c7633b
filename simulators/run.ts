/**
 * `brook sim` as a process: build the message stream (a scenario's fleet or a replayed
 * CSV), write its ground truth, publish it at a pace (or write it out on a dry run),
 * optionally record the alerts the agent publishes meanwhile, and score them.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import mqtt, { type MqttClient } from "mqtt";
import { writePublishesTogether } from "../lib/mqtt-packet-patches.js";
import { parseDuration } from "../rules/duration.js";
import { BrookSimError, readInput } from "./errors.js";
import { fleetStream, topicFor } from "./fleet-source.js";
import { readAlertsFile, readTruthFile } from "./jsonl.js";
import { type Pace, parseSpeed, publishStream, summarizeRate } from "./publisher.js";
import { parseTimestamp, ReplaySource, readReplayCsv, replaySensorName } from "./replay.js";
import {
  formatProblems,
  loadScenarioFile,
  parseScenario,
  SCENARIO_DEFAULTS,
  type ScenarioOverrides,
  type ScenarioPlan,
} from "./scenario.js";
import { PAYLOAD_FORMATS, type PayloadFormat } from "./scenario-schema.js";
import { formatScore, score } from "./score.js";
import { MessageStream, type SimMessage, type TruthRecord } from "./stream.js";

export interface SimRunOptions extends ScenarioOverrides {
  broker: string;
  username?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
  clientId: string;
  qos: 0 | 1;
  scenario?: string;
  replay?: string;
  /** replay: the sensor name (default: the file's base name) */
  sensor?: string;
  speed: string;
  rate?: number;
  truth?: string;
  out?: string;
  dryRun?: boolean;
  alertsOut?: string;
  alertsTopic: string;
  lingerMs: number;
  toleranceMs: number;
  json?: boolean;
}

/** A file written in large pieces: a fault-heavy run may write thousands of truth lines a second. */
class LineWriter {
  private readonly fd: number;
  private buffer: string[] = [];
  private size = 0;
  private closed = false;
  lines = 0;

  constructor(readonly file: string) {
    try {
      this.fd = file === "-" ? 1 : openSync(file, "w");
    } catch (err) {
      throw new BrookSimError(
        `cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? err})`,
        "BROOK_ERR_SIM_INPUT",
      );
    }
  }

  write(line: string): void {
    this.buffer.push(line);
    this.lines++;
    this.size += line.length;
    if (this.size > 65_536) this.flush();
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    writeSync(this.fd, `${this.buffer.join("\n")}\n`);
    this.buffer = [];
    this.size = 0;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.fd !== 1) closeSync(this.fd);
  }
}

const warn = (message: string) => process.stderr.write(`brook sim: ${message}\n`);

function parsePace(speed: string, rate: number | undefined): Pace {
  if (rate !== undefined) return { kind: "rate", perSecond: rate };
  const pace = parseSpeed(speed);
  if (pace === undefined)
    throw new BrookSimError(
      `sim: --speed must be "realtime", "max" or a factor such as "x10" (got "${speed}")`,
      "BROOK_ERR_USAGE",
    );
  return pace;
}

interface Built {
  name: string;
  stream: MessageStream;
  plan: ScenarioPlan | undefined;
}

function buildStream(
  opts: SimRunOptions,
  pace: Pace,
  nowMs: number,
  truth: (r: TruthRecord) => void,
): Built {
  const fast = !(pace.kind === "realtime" && pace.speed === 1) && opts.dryRun !== true;
  if (opts.replay !== undefined) {
    const format = (opts.format ?? "json") as PayloadFormat;
    if (!PAYLOAD_FORMATS.includes(format))
      throw new BrookSimError(
        `sim: --format must be one of ${PAYLOAD_FORMATS.join(", ")}`,
        "BROOK_ERR_USAGE",
      );
    const ignored = (["seed", "devices", "sensors", "interval"] as const).filter(
      (k) => opts[k] !== undefined,
    );
    if (ignored.length > 0) warn(`--replay ignores ${ignored.map((k) => `--${k}`).join(", ")}`);
    const rows = readReplayCsv(opts.replay);
    const sensor = opts.sensor ?? replaySensorName(opts.replay);
    const device = "replay";
    const topic = topicFor(opts.topic ?? SCENARIO_DEFAULTS.topic, device, sensor);
    if (topic === "" || /[+#]/.test(topic) || topic.includes("\0"))
      throw new BrookSimError(
        `sim: --topic must name one topic, without "+", "#" or NUL (got "${topic}")`,
        "BROOK_ERR_USAGE",
      );
    const channel = {
      device,
      sensor,
      topic,
      key: `${device}/${sensor}`,
      decimals: undefined,
      senmlUnit: "",
    };
    const durationMs = opts.duration === undefined ? undefined : parseDurationArg(opts.duration);
    let startMs = rows[0]?.ts as number;
    if (opts.start === "now") startMs = nowMs;
    else if (opts.start !== undefined) {
      startMs = parseTimestamp(opts.start) ?? Number.NaN;
      if (!Number.isFinite(startMs))
        throw new BrookSimError(
          `sim: --start must be an ISO 8601 time (UTC unless it says otherwise) or "now"`,
          "BROOK_ERR_USAGE",
        );
    }
    const source = new ReplaySource(rows, channel, startMs, durationMs);
    const stream = new MessageStream(
      source,
      { format, faults: [], seed: opts.seed ?? 1, startMs: source.startMs, deviceIds: [device] },
      truth,
    );
    if (fast && opts.start === "now")
      warn(
        "replaying faster than real time from now stamps readings in the future; an agent dead-letters those beyond its maxFuture (5m)",
      );
    return { name: sensor, stream, plan: undefined };
  }
  const overrides: ScenarioOverrides = {
    seed: opts.seed,
    start: opts.start,
    duration: opts.duration,
    interval: opts.interval,
    devices: opts.devices,
    sensors: opts.sensors,
    format: opts.format,
    topic: opts.topic,
  };
  const loaded =
    opts.scenario === undefined
      ? parseScenario("(command line)", "", overrides, nowMs)
      : loadScenarioFile(opts.scenario, overrides, nowMs);
  if (!loaded.ok)
    throw new BrookSimError(
      `invalid scenario:\n  ${formatProblems(loaded.problems).replaceAll("\n", "\n  ")}`,
      "BROOK_ERR_SCENARIO_INVALID",
    );
  let plan = loaded.plan;
  if (plan.startIsNow && fast) {
    // Faster than real time, a stream that starts now would run into the future, which an
    // agent refuses: it starts in the past instead, so that it ends now.
    if (plan.durationMs === undefined)
      throw new BrookSimError(
        "sim: faster than real time, give --duration (the stream then ends now) or --start in the past",
        "BROOK_ERR_USAGE",
      );
    plan = { ...plan, startMs: nowMs - plan.durationMs };
  }
  if (plan.format === "number" && !opts.dryRun && (fast || !plan.startIsNow))
    warn(
      "a plain number carries no time, so the agent stamps each on arrival: its alerts then are in arrival time, the truth in event time; score number runs only at real time from now",
    );
  const stream = fleetStream(plan, truth);
  return { name: plan.name, stream, plan };
}

function parseDurationArg(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined)
    throw new BrookSimError(`sim: --duration must be a duration such as "10m"`, "BROOK_ERR_USAGE");
  return ms;
}

function readTlsFile(option: string, file: string | undefined): Buffer | undefined {
  return file === undefined ? undefined : readInput(file, `sim: ${option} ${file}`);
}

function connect(opts: SimRunOptions, clientId: string): Promise<MqttClient> {
  // A turn's PUBLISHes go to the socket as one Buffer (lib/mqtt-packet-patches.ts).
  writePublishesTogether();
  if (!/^(mqtts?|wss?|tcp|ssl):\/\/[^/]/.test(opts.broker))
    throw new BrookSimError(
      `sim: --broker must be a URL such as mqtt://127.0.0.1:1883 or mqtts://host:8883 (got "${opts.broker}")`,
      "BROOK_ERR_USAGE",
    );
  const client = mqtt.connect(opts.broker, {
    clientId,
    username: opts.username,
    password: opts.password,
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
    // mqtt.js' debug calls (a dozen a message, each making an array of its arguments) only
    // when someone asked for debug output.
    ...(process.env.DEBUG ? {} : { log: () => undefined }),
    ca: readTlsFile("--ca", opts.ca),
    cert: readTlsFile("--cert", opts.cert),
    key: readTlsFile("--key", opts.key),
  });
  return new Promise((resolve, reject) => {
    let lastError = "no answer";
    const timer = setTimeout(() => {
      client.end(true);
      reject(
        new BrookSimError(
          `sim: cannot connect to ${opts.broker} within 10 s (${lastError})`,
          "BROOK_ERR_BROKER_UNREACHABLE",
        ),
      );
    }, 10_000);
    client.on("error", (err) => {
      lastError = err.message;
    });
    client.once("connect", () => {
      clearTimeout(timer);
      resolve(client);
    });
  });
}

/** Runs `brook sim`; prints its report through `print`. */
export async function runSim(
  opts: SimRunOptions,
  stop: Promise<void>,
  print: (line: string) => void,
): Promise<void> {
  const pace = parsePace(opts.speed, opts.rate);
  const truthLines: string[] = [];
  let truthWriter: LineWriter | undefined;
  const truth = (r: TruthRecord) => {
    const line = JSON.stringify(r);
    if (truthWriter === undefined) truthLines.push(line);
    else truthWriter.write(line);
  };
  const built = buildStream(opts, pace, Date.now(), truth);
  const injects =
    built.plan !== undefined && (built.plan.anomalies.length > 0 || built.plan.faults.length > 0);
  const truthFile = opts.truth ?? (injects ? `${built.name}.truth.jsonl` : undefined);
  if (truthFile !== undefined) {
    truthWriter = new LineWriter(truthFile);
    for (const line of truthLines) truthWriter.write(line);
  }
  const out = opts.out !== undefined || opts.dryRun ? new LineWriter(opts.out ?? "-") : undefined;
  const written = (m: SimMessage) => out?.write(JSON.stringify(m));
  try {
    if (opts.dryRun) {
      let stopped = false;
      void stop.then(() => {
        stopped = true;
      });
      let n = 0;
      for (let m = built.stream.next(); m !== undefined && !stopped; m = built.stream.next()) {
        written(m);
        // Now and then, let a Ctrl-C in: an endless stream must still stop.
        if (++n % 10_000 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      out?.close();
      truthWriter?.close();
      if (out?.file !== "-")
        print(`dry run: ${n} messages written to ${opts.out}${stopped ? " (stopped)" : ""}`);
      return;
    }
    await publishAndScore(opts, pace, built.stream, written, stop, print, truthFile, () => {
      out?.close();
      truthWriter?.close();
    });
  } finally {
    out?.close();
    truthWriter?.close();
  }
}

async function publishAndScore(
  opts: SimRunOptions,
  pace: Pace,
  stream: MessageStream,
  written: (m: SimMessage) => void,
  stop: Promise<void>,
  print: (line: string) => void,
  truthFile: string | undefined,
  closeFiles: () => void,
): Promise<void> {
  const client = await connect(opts, opts.clientId);
  let watcher: MqttClient | undefined;
  let alerts: LineWriter | undefined;
  try {
    if (opts.alertsOut !== undefined) {
      alerts = new LineWriter(opts.alertsOut);
      watcher = await connect(opts, `${opts.clientId}-alerts`);
      const writer = alerts;
      watcher.on("message", (_topic, payload) => writer.write(payload.toString("utf8")));
      await watcher.subscribeAsync(opts.alertsTopic, { qos: 1 });
    }
    const target =
      pace.kind === "rate"
        ? `at ${pace.perSecond} msgs/s`
        : pace.kind === "max"
          ? "as fast as it takes them"
          : `at real time ×${pace.speed}`;
    print(
      `brook sim: publishing to ${opts.broker} ${target}${truthFile === undefined ? "" : `; ground truth in ${truthFile}`}`,
    );
    client.on("offline", () =>
      warn(
        `lost the connection to ${opts.broker}; publishing waits for it${opts.qos === 0 ? " (QoS 0 messages in flight are lost: --qos 1 keeps them)" : ""}`,
      ),
    );
    const stats = await publishStream(() => stream.next(), client, {
      pace,
      qos: opts.qos,
      stop,
      onPublish: written,
      onSecond: (second, sent) => {
        if ((second + 1) % 10 === 0) print(`[${String(second + 1).padStart(4)}s] ${sent} msgs/s`);
      },
    });
    const rate = summarizeRate(stats);
    const spread =
      rate.window10s === undefined
        ? ""
        : `; over 10 s windows ${Math.round(rate.window10s.min)}–${Math.round(rate.window10s.max)} msgs/s`;
    const vsTarget =
      pace.kind === "rate"
        ? ` (target ${pace.perSecond}, ${(((rate.achieved - pace.perSecond) / pace.perSecond) * 100).toFixed(2)} %)`
        : "";
    const waited =
      rate.brokerWaitSeconds >= 0.01
        ? `; waited ${rate.brokerWaitSeconds.toFixed(2)} s for the broker to take them`
        : "";
    print(
      `published ${rate.sent} messages in ${rate.seconds.toFixed(2)} s: ${Math.round(rate.achieved)} msgs/s${vsTarget}${spread}${waited}`,
    );
    if (stats.unacknowledged > 0)
      warn(`${stats.unacknowledged} messages were not acknowledged by the broker when stopped`);
    if (watcher !== undefined && opts.lingerMs > 0) {
      print(`waiting ${opts.lingerMs} ms for the last alerts`);
      await new Promise((r) => setTimeout(r, opts.lingerMs));
    }
    closeFiles();
    alerts?.close();
    let report: object = { ...rate };
    if (alerts !== undefined) {
      print(`${alerts.lines} alerts recorded in ${alerts.file}`);
      if (truthFile !== undefined) {
        const scored = scoreFiles(truthFile, alerts.file, opts.toleranceMs);
        for (const line of formatScore(scored)) print(line);
        report = { ...report, score: scored };
      }
    }
    if (opts.json) print(JSON.stringify(report));
  } finally {
    await watcher?.endAsync(true);
    await client.endAsync();
  }
}

export function scoreFiles(truthFile: string, alertsFile: string, toleranceMs: number) {
  const read = readAlertsFile(alertsFile);
  const report = score(readTruthFile(truthFile), read.alerts, toleranceMs);
  return { ...report, unreadableLines: read.unreadable, otherResults: read.other };
}
