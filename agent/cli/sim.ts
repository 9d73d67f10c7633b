/** `brook sim` and `brook sim score`: the simulated fleet (simulators/run.ts) and its scoring. */
import { type Command, InvalidArgumentError, Option } from "commander";
import { parseSpeed } from "../../simulators/publisher.js";
import { runSim, type SimRunOptions, scoreFiles } from "../../simulators/run.js";
import { formatScore } from "../../simulators/score.js";
import { stopRequested } from "../runtime/signals.js";
import { durationArg, intArg, toleranceOption } from "./args.js";

function speedArg(value: string): string {
  if (parseSpeed(value) !== undefined) return value;
  throw new InvalidArgumentError('expected "realtime", "max" or a factor such as "x10"');
}

function qosArg(value: string): 0 | 1 {
  if (value !== "0" && value !== "1") throw new InvalidArgumentError("expected 0 or 1");
  return Number(value) as 0 | 1;
}

function seedArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 4294967295)
    throw new InvalidArgumentError("expected an integer 0–4294967295");
  return n;
}

export function register(program: Command): void {
  const sim = program
    .command("sim")
    .description(
      "publish a simulated fleet (or replay a CSV) to an MQTT broker, with injected anomalies and faults and their ground truth",
    )
    .option("-b, --broker <url>", "broker URL", "mqtt://127.0.0.1:1883")
    .option("-u, --username <name>", "broker username")
    .option("-p, --password <secret>", "broker password (or BROOK_SIM_PASSWORD)")
    .option("--ca <file>", "TLS: trust this CA (for mqtts:// brokers with a private CA)")
    .option("--cert <file>", "TLS: client certificate")
    .option("--key <file>", "TLS: client key")
    .option("--client-id <id>", "MQTT client id", "brook-sim")
    .option("--qos <0|1>", "publish QoS", qosArg, 0)
    .option("-s, --scenario <file>", "scenario file (YAML); see simulators/scenarios/")
    .addOption(
      new Option("--replay <file.csv>", "replay a timestamp,value CSV as one sensor").conflicts(
        "scenario",
      ),
    )
    .option("--sensor <name>", "replay: the sensor's name (default: the file's base name)")
    .option("--seed <n>", "random seed (the same seed gives the same stream)", seedArg)
    .option("--start <time>", 'event time of the first reading: ISO 8601, or "now"')
    .option(
      "--duration <duration>",
      "event time the stream covers, e.g. 10m (default: until stopped)",
    )
    .option("--interval <duration>", "time between one sensor's readings (default 1s)")
    .option("--devices <n>", "number of devices (default 4)", intArg)
    .option(
      "--sensors <kinds>",
      "sensor kinds per device, comma-separated: temperature, humidity, pressure, vibration, energy, door",
      (v: string) => v.split(",").map((k) => k.trim()),
    )
    .option("--format <format>", "payload format: json, senml, number or influx")
    .option("--topic <template>", "topic template (default sensors/{device}/{sensor})")
    .option(
      "--speed <pace>",
      'event-time pace: "realtime", a factor such as "x10", or "max"',
      speedArg,
      "realtime",
    )
    .addOption(
      new Option("--rate <msgs/s>", "publish at this total rate instead (messages per second)")
        .argParser(intArg)
        .conflicts("speed"),
    )
    .option(
      "--truth <file>",
      "ground truth, JSON lines (default <scenario name>.truth.jsonl when anything is injected)",
    )
    .option("--out <file>", "also write every message as a JSON line {at, topic, payload}")
    .option("--dry-run", "publish nothing: write the messages (to --out, or stdout) and the truth")
    .option(
      "--alerts-out <file>",
      "record the alerts published on the broker meanwhile, and score them",
    )
    .option("--alerts-topic <filter>", "where alerts are published", "brook/+/alert/#")
    .addOption(
      new Option(
        "--linger <duration>",
        "with --alerts-out: wait this long for alerts after the last message",
      )
        .argParser(durationArg)
        .default(2_000, "2s"),
    )
    .addOption(toleranceOption())
    .option("--json", "print the report as one JSON object as the last line")
    .action(
      async (
        opts: Omit<SimRunOptions, "lingerMs" | "toleranceMs"> & {
          linger: number;
          tolerance: number;
        },
      ) => {
        await runSim(
          {
            ...opts,
            password: opts.password ?? process.env.BROOK_SIM_PASSWORD,
            lingerMs: opts.linger,
            toleranceMs: opts.tolerance,
          },
          stopRequested(),
          (line) => process.stdout.write(`${line}\n`),
        );
      },
    );
  sim
    .command("score")
    .description(
      "precision, recall and detection latency per anomaly type, from a ground truth and the alerts",
    )
    .requiredOption("--truth <file>", "ground truth written by brook sim")
    .requiredOption(
      "--alerts <file>",
      "alerts as JSON lines (mosquitto_sub output, or brook sim --alerts-out)",
    )
    .addOption(toleranceOption())
    .option("--json", "one JSON object")
    .action((opts: { truth: string; alerts: string; tolerance: number; json?: boolean }) => {
      const report = scoreFiles(opts.truth, opts.alerts, opts.tolerance);
      if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else for (const line of formatScore(report)) process.stdout.write(`${line}\n`);
    });
}
