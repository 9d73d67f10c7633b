/** The `brook` command line's contract: versions, exit codes, and errors that point at the line. */
import { match, strictEqual } from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { BROOK_BIN, brook, start } from "../helpers/process.js";

const version = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

describe("brook CLI", () => {
  it("prints its version", async () => {
    const run = brook(["--version"]);
    strictEqual(await run.exited(), 0);
    strictEqual(run.output().trim(), version);
  });

  it("brook agent without --config reads /etc/brook/config.yaml, and says so when it is not there", {
    skip: existsSync("/etc/brook/config.yaml")
      ? "this machine has an /etc/brook/config.yaml"
      : false,
  }, async () => {
    const run = brook(["agent"]);
    strictEqual(await run.exited(), 1, run.output());
    match(run.output(), /\/etc\/brook\/config\.yaml/);
  });

  for (const args of [
    ["bench", "--rates", "fast"],
    ["bench", "--qos", "2"],
    ["demo", "--duration", "soon"],
    ["no-such-command"],
    ["sim", "--speed", "fast", "--dry-run"],
    ["sim", "--scenario", "a.yaml", "--replay", "b.csv", "--dry-run"],
    ["sim", "score", "--truth", "t.jsonl"],
  ]) {
    it(`exits 2 on a usage error: brook ${args.join(" ")}`, async () => {
      const run = brook(args);
      strictEqual(await run.exited(), 2, run.output());
      match(run.output(), /error/);
    });
  }

  it("brook sim: an invalid scenario exits 1 with every problem at its line; an unreadable input names the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-sim-cli-"));
    const scenario = join(dir, "s.yaml");
    writeFileSync(
      scenario,
      "devices: 2\nanomalies:\n  - { type: spike, at: 1m, device: 5 }\n  - { type: wobble, at: 1m }\n",
    );
    const run = brook(["sim", "--scenario", scenario, "--dry-run"]);
    strictEqual(await run.exited(), 1, run.output());
    match(run.output(), /s\.yaml:4:13: anomalies\.1\.type: must be one of "spike"/);
    const score = brook(["sim", "score", "--truth", join(dir, "none.jsonl"), "--alerts", scenario]);
    strictEqual(await score.exited(), 1, score.output());
    match(score.output(), /none\.jsonl: cannot read \(ENOENT\)/);
    const replay = brook(["sim", "--replay", scenario, "--dry-run"]);
    strictEqual(await replay.exited(), 1, replay.output());
    match(replay.output(), /s\.yaml:1: expected "timestamp,value"/);
  });

  it("brook rules check: exit 0 for valid files, 1 with every problem for invalid ones, 2 for unreadable ones", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-rules-"));
    const good = join(dir, "good.yaml");
    const bad = join(dir, "bad.yaml");
    writeFileSync(good, "rules:\n  - name: minute\n    window: { type: tumbling, size: 1m }\n");
    writeFileSync(
      bad,
      "rules:\n  - name: a\n    windw: { type: tumbling }\n  - name: a\n    aggregates: [median]\n",
    );
    const ok = brook(["rules", "check", "--explain", good]);
    strictEqual(await ok.exited(), 0, ok.output());
    match(ok.output(), /good\.yaml: ok \(1 rule\)/);
    match(ok.output(), /window {6}tumbling: size 1m/);
    match(ok.output(), /state\/key {3}~\d+ bytes/);
    const invalid = brook(["rules", "check", good, bad]);
    strictEqual(await invalid.exited(), 1, invalid.output());
    match(
      invalid.output(),
      new RegExp(`${bad}:3:5: rules\\.0\\.windw: unknown field \\(did you mean "window"\\?\\)`),
    );
    match(invalid.output(), /did you mean "p50"\?/);
    const unreadable = brook(["rules", "check", bad, join(dir, "missing.yaml")]);
    strictEqual(await unreadable.exited(), 2, unreadable.output());
  });

  it("brook passwd: add (password from stdin), list, remove; only scrypt hashes stored, owner-only when new, its mode kept", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "brook-passwd-")), "passwd");
    const run = (args: string[], stdin?: string) => {
      const r = start(process.execPath, [BROOK_BIN, "passwd", ...args], { stdin });
      return r.exited().then((code) => ({ code, out: r.output() }));
    };
    strictEqual((await run(["add", file, "pump-1"], "a long secret\n")).code, 0);
    strictEqual((await run(["add", file, "gw"], "another secret\n")).code, 0);
    strictEqual((await run(["list", file])).out, "pump-1\ngw\n");
    const text = readFileSync(file, "utf8");
    match(text, /^pump-1:scrypt\$14\$8\$1\$/m);
    strictEqual(text.includes("a long secret"), false);
    strictEqual(statSync(file).mode & 0o777, 0o600);
    // The file made readable to the agent's group keeps that through later changes.
    chmodSync(file, 0o640);
    strictEqual((await run(["remove", file, "gw"])).code, 0);
    strictEqual((await run(["list", file])).out, "pump-1\n");
    strictEqual(statSync(file).mode & 0o777, 0o640);
    strictEqual((await run(["add", file, "x"], "short\n")).code, 2);
    strictEqual((await run(["remove", file, "nobody"])).code, 2);
  });

  it("rejects an invalid config with every problem at file:line:col, exit 1", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "brook-cli-")), "config.yaml");
    writeFileSync(file, "device: pi\nedge:\n  embedded:\n    port: 99999\nhttp:\n  prot: 1\n");
    const run = brook(["agent", "--config", file]);
    strictEqual(await run.exited(), 1);
    match(run.output(), new RegExp(`${file}:4:11: edge\\.embedded\\.port: must be <= 65535`));
    match(run.output(), new RegExp(`${file}:6:3: http\\.prot: unknown field`));
  });

  it("exits 1 with a clear message when the config file is missing", async () => {
    const run = brook(["agent", "--config", "/nonexistent/brook.yaml"]);
    strictEqual(await run.exited(), 1);
    match(run.output(), /cannot read config file \/nonexistent\/brook\.yaml \(ENOENT\)/);
  });
});
