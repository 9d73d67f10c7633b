/**
 * `npm run bench:engine [-- --json] [-- --runs N]`: the engine benchmark, N runs (default 3),
 * reporting the median of the runs. With --json the last line is one JSON object:
 * {"readingsPerSec": {...}, "ratioToBaseline": {...}, "stateBytesPerKey": {...}, "runs": N, "node": ..., "cpu": ...}.
 */
import { cpus } from "node:os";
import { type EngineBenchResult, runEngineBench } from "../agent/engine/engine.bench.js";
import { median } from "./bench-util.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const runsAt = args.indexOf("--runs");
const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;

const medianOf = (
  pick: (r: EngineBenchResult) => Record<string, number>,
  results: EngineBenchResult[],
) =>
  Object.fromEntries(
    Object.keys(pick(results[0] as EngineBenchResult)).map((n) => [
      n,
      median(results.map((r) => pick(r)[n] as number)),
    ]),
  );

const results: EngineBenchResult[] = [];
for (let i = 0; i < runs; i++) {
  const r = await runEngineBench();
  results.push(r);
  if (!json) console.log(`run ${i + 1}/${runs}: ${JSON.stringify(r.readingsPerSec)}`);
}
const summary = {
  readingsPerSec: medianOf((r) => r.readingsPerSec, results),
  ratioToBaseline: medianOf((r) => r.ratioToBaseline, results),
  stateBytesPerKey: results[0]?.stateBytesPerKey ?? {},
  runs,
  node: process.version,
  cpu: `${cpus().length} × ${cpus()[0]?.model ?? "unknown"}`,
};
if (!json) {
  for (const [n, perSec] of Object.entries(summary.readingsPerSec)) {
    const ratio = n in summary.ratioToBaseline ? `  ${summary.ratioToBaseline[n]}× baseline` : "";
    const bytes =
      n in summary.stateBytesPerKey ? `  ${summary.stateBytesPerKey[n]} B state/key` : "";
    console.log(
      `${n.padEnd(12)} ${perSec.toLocaleString("en-US").padStart(12)} readings/s${ratio}${bytes}`,
    );
  }
}
console.log(JSON.stringify(summary));
