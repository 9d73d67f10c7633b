/**
 * `brook agent` reloads its rules file on SIGHUP. The rules file is a symlink into another
 * folder (as configuration management often deploys it) and the target is edited in
 * place, so the file watcher sees nothing and only the signal can cause the reload.
 */
import { match } from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { brook, stopAfterAll } from "../helpers/process.js";

describe("brook agent and SIGHUP", () => {
  const cleanups = stopAfterAll();

  it("rejects an invalid file keeping the old rules, then swaps in a valid one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-sighup-"));
    mkdirSync(join(dir, "release"));
    mkdirSync(join(dir, "etc"));
    const target = join(dir, "release", "rules.yaml");
    writeFileSync(target, "rules:\n  - name: a\n");
    symlinkSync(target, join(dir, "etc", "rules.yaml"));
    const config = join(dir, "etc", "config.yaml");
    writeFileSync(
      config,
      "device: d\nedge: { embedded: { port: 0 } }\nrules: rules.yaml\ndataDir: ../data\nhttp: { port: 0 }\n",
    );
    const agent = brook(["agent", "--config", config]);
    cleanups.push(() => agent.stop());
    const ready = JSON.parse(await agent.waitForLine(/agent ready/)) as { http: number };
    const metrics = async () => (await fetch(`http://127.0.0.1:${ready.http}/metrics`)).text();

    writeFileSync(target, "rules:\n  - name: a\n    window: { type: tumbling, size: soon }\n");
    agent.child.kill("SIGHUP");
    const rejected = await agent.waitForLine(/rules reload rejected/);
    match(rejected, /rules\.yaml:3:37: rules\.0\.window\.size: must be a duration/);
    match(await metrics(), /brook_rules_reloads_rejected_total 1/);
    match(await metrics(), /brook_rules_reloads_total 0/);

    writeFileSync(target, "rules:\n  - name: a\n  - name: b\n");
    agent.child.kill("SIGHUP");
    match(await agent.waitForLine(/rules reloaded/), /"added":\["b"\]/);
    match(await metrics(), /brook_rules_reloads_total 1/);
  });
});
