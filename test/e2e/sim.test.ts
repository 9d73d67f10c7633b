/**
 * `brook sim` with real peers: it publishes to mosquitto what its dry run writes, byte for
 * byte, as `mosquitto_sub` sees it; and a scenario run against a running agent is scored
 * by `brook sim score` from the alerts `mosquitto_sub` recorded.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startMosquitto } from "../helpers/mosquitto.js";
import { brook, eventually, start, stopAfterAll } from "../helpers/process.js";

const SCENARIOS = join(import.meta.dirname, "../../simulators/scenarios");
const START = "2026-01-01T00:00:00Z";

/** mosquitto_sub, subscribed (its SUBACK seen) before it is returned; `-v` prints "topic payload". */
async function subscriber(url: string, filter: string, cleanups: (() => Promise<unknown>)[]) {
  const { port } = new URL(url);
  // Line-buffered: into a pipe, mosquitto_sub would hold its debug lines back.
  const sub = start("stdbuf", [
    "-oL",
    "mosquitto_sub",
    "-h",
    "127.0.0.1",
    "-p",
    port,
    "-q",
    "1",
    "-v",
    "-d",
    "-t",
    filter,
  ]);
  cleanups.push(() => sub.stop());
  await sub.waitForLine(/received SUBACK/);
  const messages = () =>
    sub
      .output()
      .split("\n")
      .filter(
        (l) =>
          !/^Client \S+ (sending|received) /.test(l) && !/^Subscribed \(mid/.test(l) && l !== "",
      );
  return { sub, messages };
}

describe("brook sim against real brokers", () => {
  const cleanups = stopAfterAll();

  it("publishes to mosquitto exactly its dry run's messages, in order, with the same ground truth", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-sim-"));
    const broker = await startMosquitto(dir);
    cleanups.push(() => broker.stop());
    const scenario = join(SCENARIOS, "network-faults.yaml");
    const common = ["--scenario", scenario, "--start", START];

    const dry = brook([
      "sim",
      ...common,
      "--dry-run",
      "--out",
      join(dir, "dry.jsonl"),
      "--truth",
      join(dir, "dry-truth.jsonl"),
    ]);
    assert.equal(await dry.exited(), 0, dry.output());
    const expected = readFileSync(join(dir, "dry.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { topic: string; payload: string });

    const { messages } = await subscriber(broker.url, "sensors/#", cleanups);
    const run = brook([
      "sim",
      ...common,
      "--broker",
      broker.url,
      "--qos",
      "1",
      "--speed",
      "max",
      "--truth",
      join(dir, "truth.jsonl"),
    ]);
    assert.equal(await run.exited(60_000), 0, run.output());
    assert.match(run.output(), new RegExp(`published ${expected.length} messages in`));
    const got = await eventually(
      () => {
        const m = messages();
        return m.length >= expected.length ? m : undefined;
      },
      30_000,
      `${expected.length} messages at mosquitto_sub`,
    );
    // mosquitto_sub prints an empty payload (a malformed one) as "(null)".
    assert.deepEqual(
      got,
      expected.map((m) => `${m.topic} ${m.payload === "" ? "(null)" : m.payload}`),
    );
    assert.equal(
      readFileSync(join(dir, "truth.jsonl"), "utf8"),
      readFileSync(join(dir, "dry-truth.jsonl"), "utf8"),
    );
  });

  it("a scenario against a running agent: every injected spike is alerted on at once, and sim score says so", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-sim-agent-"));
    const edge = await startMosquitto(dir);
    cleanups.push(() => edge.stop());
    writeFileSync(
      join(dir, "scenario.yaml"),
      [
        "name: spikes",
        "seed: 9",
        "duration: 10m",
        "devices: 3",
        "sensors: [temperature, pressure]",
        "anomalies:",
        "  - { type: spike, at: 2m, every: 2m, count: 4, device: all, sensor: temperature, magnitude: 10 }",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "rules.yaml"),
      [
        "rules:",
        "  - name: spikes",
        "    window: { type: count, n: 60 }",
        "    detectors:",
        "      - { type: zscore, n: 60, threshold: 6, minSamples: 30 }",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "config.yaml"),
      [
        "device: sim-pi",
        `edge: { url: ${edge.url} }`,
        "rules: rules.yaml",
        "dataDir: ./data",
        "http: { enabled: false }",
        "",
      ].join("\n"),
    );
    const agent = brook(["agent", "--config", join(dir, "config.yaml")], { cwd: dir });
    cleanups.push(() => agent.stop());
    await agent.waitForLine(/agent ready/);
    const alerts = await subscriber(edge.url, "brook/+/alert/#", cleanups);

    const truth = join(dir, "truth.jsonl");
    const run = brook(
      [
        "sim",
        "--scenario",
        join(dir, "scenario.yaml"),
        "--broker",
        edge.url,
        "--qos",
        "1",
        "--speed",
        "max",
        "--truth",
        truth,
      ],
      { cwd: dir },
    );
    assert.equal(await run.exited(60_000), 0, run.output());
    // 3 devices × 4 spikes, each opened and then resolved by the next reading.
    const recorded = await eventually(
      () => {
        const lines = alerts.messages();
        return lines.filter((l) => l.includes('"state":"resolved"')).length >= 12
          ? lines
          : undefined;
      },
      30_000,
      "12 alerts opened and resolved",
    );
    const alertsFile = join(dir, "alerts.jsonl");
    writeFileSync(alertsFile, `${recorded.join("\n")}\n`);

    const scored = brook(["sim", "score", "--truth", truth, "--alerts", alertsFile]);
    assert.equal(await scored.exited(), 0, scored.output());
    assert.match(
      scored.output(),
      /^spike\s+12\s+12\s+1\.00\s+12\s+0\s+1\.00\s+0 ms\s+0 ms\s+0 ms$/m,
    );
    const json = brook(["sim", "score", "--truth", truth, "--alerts", alertsFile, "--json"]);
    assert.equal(await json.exited(), 0, json.output());
    const report = JSON.parse(json.output()) as {
      overall: { recall: number; precision: number };
      alertsUnique: number;
    };
    assert.deepEqual(
      [report.overall.recall, report.overall.precision, report.alertsUnique],
      [1, 1, 12],
    );
  });
});
