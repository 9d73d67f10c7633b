/** `brook bench`, as a user runs it: the agent in its process, `brook sim` publishers, rising rates. */
import { match, ok, strictEqual } from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { brook } from "../helpers/process.js";

describe("brook bench", () => {
  it("climbs the rates given, prints a line per step and the verdict, the headroom over --expect, and one JSON object last", async () => {
    const run = brook([
      "bench",
      "--rates",
      "200,400/s",
      "--step",
      "2s",
      "--sensors",
      "100",
      "--expect",
      "100/s",
      "--json",
    ]);
    strictEqual(await run.exited(60_000), 0, run.output());
    const out = run.output();
    match(out, /\[step 1\/2\] 200 readings\/s over 100 sensors for 2 s/);
    match(out, /taken +400 of +400 .* sustained/);
    match(out, /taken +800 of +800 .* sustained/);
    match(out, /every rate tried was sustained: try higher --rates/);
    match(out, /at the expected 100 readings\/s: \d+(\.\d)?× headroom/);
    const report = JSON.parse(out.trim().split("\n").at(-1) as string) as {
      sustainedPerSec: number;
      cpuUsPerReading: number;
      rssMb: number;
      steps: { sent: number; taken: number; verdict: string }[];
      machine: { cores: number };
    };
    ok(report.sustainedPerSec >= 380, JSON.stringify(report));
    ok(report.cpuUsPerReading > 0 && report.rssMb > 0, JSON.stringify(report));
    strictEqual(report.steps.length, 2);
    for (const s of report.steps) strictEqual(s.taken, s.sent);
    ok(report.machine.cores >= 1);
  });

  it("stops with a clear error when the fleet's readings reach no rule (rules with sources on other topics); a relative --rules is the user's", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-bench-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const rules = join(dir, "rules.yaml");
    writeFileSync(
      rules,
      "sources:\n  - { name: plant, topic: plant/+/temp }\nrules:\n  - { name: r, source: plant, window: { type: tumbling } }\n",
    );
    const run = brook(
      ["bench", "--rules", "rules.yaml", "--rates", "100", "--step", "1s", "--sensors", "10"],
      { cwd: dir },
    );
    strictEqual(await run.exited(60_000), 2, run.output());
    match(
      run.output(),
      /none of the \d+ readings published on sensors\/p0-\{device\}\/\{sensor\} reached a rule: give --topic and --format/,
    );
  });
});
