/**
 * `npm run fleet [-- --devices 50] [-- --sinks 3] [-- --seconds 60] [-- --sensors 4] [-- --json]`:
 * a fleet on this machine with the real parts (scripts/fleet-run.ts): cloud mosquitto,
 * PostgreSQL, N agents fed by `brook sim`, K sinks in one group; a sink and an agent killed
 * midway; every result checked in PostgreSQL. Exit 1 unless every result is there exactly
 * once at its highest revision.
 */

import { humanLog, numberArg } from "./bench-util.js";
import { checkoutCommand } from "./bundle.js";
import { runFleet } from "./fleet-run.js";

const args = process.argv.slice(2);
const log = humanLog(args);
const report = await runFleet({
  brook: await checkoutCommand(),
  devices: numberArg(args, "--devices", 50),
  sinks: numberArg(args, "--sinks", 3),
  seconds: numberArg(args, "--seconds", 60),
  sensors: numberArg(args, "--sensors", 4),
  log,
});
log(
  `${report.devices} devices, ${report.sinks} sinks, ${report.seconds} s: ${report.results} results (${report.auditedRecords} records committed by the agents), ${report.rowsInDatabase} rows in PostgreSQL; missing ${report.missing}, wrong revision ${report.wrongRevision}, not committed by any agent ${report.notAudited}: ${report.exactlyOnce ? "every result exactly once at its highest revision" : "NOT EXACTLY ONCE"}`,
);
log(
  `${report.resultsPerSecIntoDatabase} results/s into the database; per sink: ${Object.entries(
    report.perSink,
  )
    .map(([sink, s]) => `${sink} ${s.results} (${Math.round(s.share * 100)} %)`)
    .join(", ")}; killed ${report.killed.sink} and ${report.killed.agent} midway`,
);
if (args.includes("--json")) console.log(JSON.stringify(report));
if (!report.exactlyOnce) process.exitCode = 1;
