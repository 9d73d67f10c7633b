/** The `brook` command line. */
import { join } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { parseDuration } from "../rules/duration.js";
import { parseSpeed } from "../simulators/publisher.js";
import { formatScore } from "../simulators/score.js";
import { loadConfig } from "./config/load.js";
import { runDemo } from "./demo.js";
import { BrookError, brookCode } from "./errors.js";
import { checkRulesFiles } from "./rules-check.js";
import { Agent } from "./runtime/agent.js";
import { createLogger } from "./runtime/log.js";
import { stopRequested } from "./runtime/signals.js";
import { runSim, type SimRunOptions, scoreFiles } from "./runtime/sim-runner.js";
import { runCloudSink, type SinkRunOptions } from "./runtime/sink-runner.js";
import { printOutboxStats, printSinkStats } from "./runtime/stats.js";
import { runSelftest } from "./selftest.js";
import { VERSION } from "./version.js";

/** Where `brook agent` looks without --config: the deployment kit's place (deploy/). */
const DEFAULT_CONFIG = "/etc/brook/config.yaml";

function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new InvalidArgumentError('expected a duration such as "10s", "5m" or "500ms"');
  return ms;
}

function portArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("expected a port number 0–65535");
  return n;
}

function toleranceOption(): Option {
  return new Option(
    "--tolerance <duration>",
    "scoring: how late after an anomaly's end an alert still counts",
  )
    .argParser(durationArg)
    .default(60_000, "1m");
}

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

function intArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

/** Runs until SIGINT/SIGTERM, then calls `stop` once. */

function notImplemented(name: string, issue: string) {
  return () => {
    throw new BrookError("BROOK_ERR_NOT_IMPLEMENTED", `${name}: not implemented yet (${issue})`);
  };
}

export function buildCli(): Command {
  const program = new Command("brook")
    .description(
      "Stream agent for edge devices: MQTT readings in, windowed aggregates and alerts out to a cloud broker.",
    )
    .version(VERSION, "-V, --version")
    .showHelpAfterError()
    // Throw instead of exiting, so main() decides the exit code; subcommands inherit this.
    .exitOverride()
    // A command's options go before its subcommand: `brook sim score --truth …` gives
    // score's --truth, not sim's (subcommands inherit this too).
    .enablePositionalOptions();

  program
    .command("agent")
    .description("run the agent with a config file")
    .option("-c, --config <file>", "agent config file (YAML)", DEFAULT_CONFIG)
    .action(async (opts: { config: string }) => {
      const config = loadConfig(opts.config);
      // Listening before the agent starts: a SIGHUP then must not kill the process, and one
      // that arrives while it starts (its rules maybe read already) reloads once it is up.
      let agent: Agent | undefined;
      let missed = false;
      const reload = () => {
        if (agent === undefined) missed = true;
        else agent.reloadRules();
      };
      process.on("SIGHUP", reload);
      agent = await Agent.start(config, { logger: createLogger() });
      if (missed) agent.reloadRules();
      await stopRequested();
      process.off("SIGHUP", reload);
      await agent.stop();
    });

  program
    .command("cloud-sink")
    .description("subscribe at the cloud broker and upsert every result by id into a SQLite file")
    .requiredOption("-d, --db <file>", "SQLite file to write")
    .option("-b, --broker <url>", "cloud broker URL, e.g. mqtt://127.0.0.1:1883")
    .option("-u, --username <name>", "broker username")
    .option("-p, --password <secret>", "broker password (or BROOK_SINK_PASSWORD)")
    .option(
      "--client-id <id>",
      "MQTT client id (several sinks need different ones)",
      "brook-cloud-sink",
    )
    .option(
      "--group <name>",
      "share the load with other sinks of this group (MQTT shared subscription)",
    )
    .option("--ca <file>", "TLS: trust this CA (for mqtts:// brokers with a private CA)")
    .option("--cert <file>", "TLS: client certificate")
    .option("--key <file>", "TLS: client key")
    .option("--stats", "print the database's counters and rows by kind, and exit")
    .action(async (opts: SinkRunOptions & { stats?: boolean; broker?: string }) => {
      if (opts.stats) {
        printSinkStats(opts.db);
        return;
      }
      if (opts.broker === undefined)
        throw new BrookError(
          "BROOK_ERR_USAGE",
          "cloud-sink: --broker <url> is required (or --stats)",
        );
      await runCloudSink(
        {
          ...opts,
          broker: opts.broker,
          password: opts.password ?? process.env.BROOK_SINK_PASSWORD,
        },
        stopRequested(),
      );
    });

  program
    .command("demo")
    .description(
      "run the whole slice on loopback: edge broker, simulated fleet, agent, cloud broker and sink",
    )
    .option("--duration <duration>", "stop by itself after this long, e.g. 10s", durationArg)
    .option("--data-dir <dir>", "where outbox.db, cloud.db and demo-rules.yaml live", "./data")
    .option("--edge-port <port>", "edge broker port (a free one if taken)", portArg, 1883)
    .option("--cloud-port <port>", "cloud broker port (a free one if taken)", portArg, 1884)
    .option("--http-port <port>", "metrics port (a free one if taken)", portArg, 9100)
    .option("--sensors <n>", "number of simulated sensors", intArg, 20)
    .option("--hz <n>", "readings per second per sensor", intArg, 10)
    .action(
      async (opts: {
        duration?: number;
        dataDir: string;
        edgePort: number;
        cloudPort: number;
        httpPort: number;
        sensors: number;
        hz: number;
      }) => {
        await runDemo({ ...opts, durationMs: opts.duration });
      },
    );

  const rules = program.command("rules").description("work with rules files");
  rules
    .command("check")
    .argument("<files...>", "rules files (YAML or JSON)")
    .option("--explain", "print each rule's compiled plan")
    .description(
      "validate rules files: every error as FILE:LINE:COL: path: message; exit 0 valid, 1 invalid, 2 unreadable",
    )
    .action((files: string[], opts: { explain?: boolean }) => {
      process.exitCode = checkRulesFiles(files, opts.explain === true, (line) =>
        process.stdout.write(`${line}\n`),
      );
    });
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
  program
    .command("bench")
    .description("run the benchmarks")
    .allowUnknownOption()
    .action(notImplemented("bench", "issue 3"));
  const outbox = program.command("outbox").description("inspect the outbox");
  outbox
    .command("stats")
    .description("print the outbox's depth, bytes, oldest record's age and drops by priority")
    .option("-c, --config <file>", "the agent's config file (its dataDir holds outbox.db)")
    .option("--db <file>", "an outbox.db file")
    .option("--json", "one JSON object")
    .action((opts: { config?: string; db?: string; json?: boolean }) => {
      const file =
        opts.db ??
        (opts.config === undefined
          ? undefined
          : join(loadConfig(opts.config).dataDir, "outbox.db"));
      if (file === undefined)
        throw new BrookError(
          "BROOK_ERR_USAGE",
          "outbox stats: give --config <file> or --db <file>",
        );
      printOutboxStats(file, opts.json === true);
    });
  program
    .command("selftest")
    .description(
      "in-process smoke test: broker, SQLite, a window, an outbox round trip; prints versions and arch",
    )
    .action(async () => {
      const ok = await runSelftest((line) => process.stdout.write(`${line}\n`));
      process.exitCode = ok ? 0 : 1;
    });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0; usage errors exit 2.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
    } else if (brookCode(err) !== undefined) {
      const code = brookCode(err);
      process.stderr.write(`brook: ${(err as Error).message}\n`);
      process.exitCode = code === "BROOK_ERR_NOT_IMPLEMENTED" || code === "BROOK_ERR_USAGE" ? 2 : 1;
    } else {
      process.stderr.write(
        `brook: unexpected error: ${(err as Error | null)?.stack ?? String(err)}\n`,
      );
      process.exitCode = 1;
    }
    // Exit now: a part that failed half-way must not keep the process alive.
    process.exit();
  }
}
