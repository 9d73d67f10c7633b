/** `brook bench`: what this device sustains with these rules (agent/bench/run.ts). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { killPublishers, runBench } from "../bench/run.js";
import { verdictLines } from "../bench/steps.js";
import { loadConfig } from "../config/load.js";
import { durationArg, intArg, mustExist } from "./args.js";

/** `2000/s`, `2000` or `2k/s`: readings per second. */
export function rateArg(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(k)?(?:\/s)?$/.exec(value.trim());
  const n = m === null ? Number.NaN : Number(m[1]) * (m[2] === "k" ? 1000 : 1);
  if (!(n >= 1)) throw new InvalidArgumentError('expected readings per second, such as "2000/s"');
  return Math.round(n);
}

const RATES = [1_000, 2_000, 5_000, 10_000, 20_000, 40_000, 60_000, 80_000, 120_000, 160_000];

export function register(program: Command): void {
  program
    .command("bench")
    .description(
      "measure the highest rate of readings this device sustains with these rules, with nothing lost: the agent in this process on loopback, a simulated fleet at rising rates",
    )
    .option(
      "-c, --config <file>",
      "the agent's config: its rules file, reading log and state budget",
    )
    .option(
      "-r, --rules <file>",
      "rules file (default: the config's, else the default rule and a z-score rule)",
    )
    .option("--sensors <n>", "sensors in the simulated fleet", intArg, 1_000)
    .option("--format <format>", "payload format: json, senml, number or influx (default json)")
    .option("--topic <template>", "topic template (default sensors/p<publisher>-{device}/{sensor})")
    .option(
      "--qos <0|1>",
      "publish QoS",
      (v: string) => {
        if (v !== "0" && v !== "1") throw new InvalidArgumentError("expected 0 or 1");
        return Number(v) as 0 | 1;
      },
      0 as 0 | 1,
    )
    .option("--rates <list>", "the rates to climb, readings/s, comma-separated", (v: string) =>
      v.split(",").map(rateArg),
    )
    .option(
      "--step <duration>",
      "how long each rate is held (default 10s; 4s with --quick)",
      durationArg,
    )
    .option("--quick", "short steps: done within 90 s")
    .option("--expect <rate>", "the rate you expect, e.g. 2000/s: the headroom over it", rateArg)
    .option("--json", "print one JSON object as the last line")
    .action(async (opts) => {
      if (opts.config !== undefined) mustExist(opts.config, "config file");
      if (opts.rules !== undefined) mustExist(opts.rules, "rules file");
      const print = (line: string) => process.stdout.write(`${line}\n`);
      const dataDir = mkdtempSync(join(tmpdir(), "brook-bench-"));
      // Ctrl-C or a stop: the publishers ended and the scratch directory removed, at once.
      const interrupted = (signal: NodeJS.Signals) => {
        killPublishers();
        rmSync(dataDir, { recursive: true, force: true });
        process.stderr.write(`bench: stopped (${signal}); nothing was measured to the end\n`);
        process.exit(130);
      };
      process.once("SIGINT", interrupted);
      process.once("SIGTERM", interrupted);
      try {
        const report = await runBench({
          config: opts.config === undefined ? undefined : loadConfig(opts.config),
          // The run's config lives in its scratch directory: a relative path is the user's.
          rulesFile: opts.rules === undefined ? undefined : resolve(opts.rules),
          dataDir,
          sensors: opts.sensors,
          rates: opts.rates ?? (opts.quick ? RATES.slice(0, 8) : RATES),
          stepMs: opts.step ?? (opts.quick ? 4_000 : 10_000),
          qos: opts.qos,
          format: opts.format,
          topic: opts.topic,
          expect: opts.expect,
          print,
        });
        print("");
        for (const line of verdictLines(report, opts.expect)) print(line);
        print(
          report.alertLatencyP99Ms === null
            ? "alert latency: no alert was opened"
            : `alert latency (arrival → alert written to the edge broker's subscribers): p99 ≤ ${report.alertLatencyP99Ms} ms over ${report.alerts} alerts`,
        );
        print(
          `machine: ${report.machine.cores} cores, ${report.machine.model}, load ${report.machine.loadavg.join(" ")}; the fleet's publishers ran on it too`,
        );
        if (opts.json) print(JSON.stringify(report));
      } finally {
        process.off("SIGINT", interrupted);
        process.off("SIGTERM", interrupted);
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
}
