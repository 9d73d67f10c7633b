/**
 * The single binary (scripts/build-binary.ts), as a user gets it: copied alone into an
 * empty directory and run with an empty environment (`env -i`) — its self-test, the demo,
 * and an agent between two real mosquitto brokers; where its SQLite addon comes from; and
 * the arm64 binary's self-test under qemu-user-static. The first run builds the binaries
 * (the addon compiles in a minute or two per arch, then stays cached in dist/.build).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { addonPath, buildBinary, commandWorks, NODE_VERSION } from "../../scripts/build-binary.js";
import { startMosquitto } from "../helpers/mosquitto.js";
import { DEMO_ON_FREE_PORTS, start, stopAfterAll } from "../helpers/process.js";

/** The binary alone in a new empty directory. */
function alone(binary: string, name: string): { dir: string; exe: string } {
  const dir = mkdtempSync(join(tmpdir(), `brook-bin-${name}-`));
  const exe = join(dir, "brook");
  copyFileSync(binary, exe);
  chmodSync(exe, 0o755);
  return { dir, exe };
}

/** `env -i [VARS] exe args` in `cwd`: nothing of this process's environment. */
const isolated = (cwd: string, exe: string, args: string[], vars: string[] = []) =>
  start("env", ["-i", ...vars, exe, ...args], { cwd });

describe("the single binary", () => {
  const cleanups = stopAfterAll();
  let x64 = "";

  before(async () => {
    x64 = await buildBinary("x64");
  });

  it(`x64, alone in an empty directory with an empty environment: selftest (node ${NODE_VERSION}), demo, and an agent between two mosquittos`, async () => {
    const { dir, exe } = alone(x64, "alone");
    const self = isolated(dir, exe, ["selftest"]);
    assert.equal(await self.exited(30_000), 0, self.output());
    assert.match(
      self.output(),
      new RegExp(
        `node v${NODE_VERSION.replaceAll(".", "\\.")}, linux/x64, SQLite [0-9.]+, single binary; SQLite addon: embedded, extracted to: `,
      ),
    );
    assert.match(self.output(), /selftest passed/);

    const demo = isolated(dir, exe, ["demo", "--duration", "5s", ...DEMO_ON_FREE_PORTS]);
    assert.equal(await demo.exited(30_000), 0, demo.output());
    assert.match(demo.output(), /stopped in \d+ ms: [1-9]\d* readings, [1-9]\d* windows closed/);

    const edge = await startMosquitto(dir);
    cleanups.push(() => edge.stop());
    const cloud = await startMosquitto(dir);
    cleanups.push(() => cloud.stop());
    writeFileSync(
      join(dir, "rules.yaml"),
      "rules:\n  - name: three\n    window: { type: count, n: 3, every: 3 }\n    aggregates: [count, mean]\n",
    );
    writeFileSync(
      join(dir, "config.yaml"),
      [
        "device: pi-bin",
        `edge: { url: ${edge.url} }`,
        "rules: rules.yaml",
        "dataDir: ./agent-data",
        `uplink: { url: ${cloud.url} }`,
        "http: { enabled: false }",
        "",
      ].join("\n"),
    );
    const sub = start("stdbuf", [
      "-oL",
      "mosquitto_sub",
      "-p",
      String(cloud.port),
      "-h",
      "127.0.0.1",
      "-q",
      "1",
      "-t",
      "brook/#",
      "-d",
    ]);
    cleanups.push(() => sub.stop());
    await sub.waitForLine(/received SUBACK/);
    const agent = isolated(dir, exe, ["agent", "-c", "config.yaml"]);
    cleanups.push(() => agent.stop());
    await agent.waitForLine(/agent ready/, 20_000);
    for (const [i, value] of [3, 4, 8].entries())
      execFileSync("mosquitto_pub", [
        "-h",
        "127.0.0.1",
        "-p",
        String(edge.port),
        "-q",
        "1",
        "-t",
        "sensors/pump-1/temp",
        "-m",
        JSON.stringify({ ts: 1_767_225_600_000 + i * 1000, value }),
      ]);
    const line = await sub.waitForLine(/"aggregates":\{"count":3,"mean":5\}/, 20_000);
    assert.match(line, /"device":"pi-bin","rule":"three","key":"pump-1\/temp"/);
    // SIGTERM: a clean exit, with the open windows checkpointed beside the outbox.
    assert.equal(await agent.stop("SIGTERM"), 0, agent.output());
    assert.ok(existsSync(join(dir, "agent-data", "state.db")));
    assert.ok(existsSync(join(dir, "agent-data", "outbox.db")));
  });

  it("an addon beside the binary (if no one else can write it), or named by BROOK_SQLITE_ADDON, is used instead; a bad one is a clear error", async () => {
    const { dir, exe } = alone(x64, "addon");
    const { addon } = addonPath("x64");
    const named = isolated(dir, exe, ["selftest"], [`BROOK_SQLITE_ADDON=${addon}`]);
    assert.equal(await named.exited(30_000), 0, named.output());
    assert.match(
      named.output(),
      new RegExp(`SQLite addon: BROOK_SQLITE_ADDON: ${addon.replaceAll(".", "\\.")}`),
    );

    copyFileSync(addon, join(dir, "better_sqlite3.node"));
    const beside = isolated(dir, exe, ["selftest"]);
    assert.equal(await beside.exited(30_000), 0, beside.output());
    assert.match(beside.output(), /SQLite addon: beside the binary: .*better_sqlite3\.node/);
    // One that others may write is refused: loading it would run their code.
    chmodSync(join(dir, "better_sqlite3.node"), 0o666);
    const shared = isolated(dir, exe, ["selftest"]);
    assert.equal(await shared.exited(30_000), 1, shared.output());
    assert.match(
      shared.output(),
      /better_sqlite3\.node is not loaded: it, or its directory, may be written by other users/,
    );
    chmodSync(join(dir, "better_sqlite3.node"), 0o644);

    writeFileSync(join(dir, "not-an-addon.node"), "hello");
    const bad = isolated(
      dir,
      exe,
      ["selftest"],
      [`BROOK_SQLITE_ADDON=${join(dir, "not-an-addon.node")}`],
    );
    assert.equal(await bad.exited(30_000), 1, bad.output());
    assert.match(
      bad.output(),
      /FAIL cannot load the SQLite addon .*not-an-addon\.node \(BROOK_SQLITE_ADDON\)/,
    );
  });

  it("a cache directory on a noexec file system is a clear error saying what to do", async (t) => {
    const { dir, exe } = alone(x64, "noexec");
    const mnt = join(dir, "noexec");
    mkdirSync(mnt);
    if (!commandWorks("mount", ["-t", "tmpfs", "-o", "noexec,size=16m", "tmpfs", mnt])) {
      t.skip("cannot mount a noexec tmpfs here (needs root in a namespace that allows mounts)");
      return;
    }
    cleanups.push(async () => execFileSync("umount", [mnt]));
    mkdirSync(join(mnt, "cache"), { mode: 0o700 });
    const run = isolated(dir, exe, ["selftest"], [`BROOK_CACHE_DIR=${join(mnt, "cache")}`]);
    assert.equal(await run.exited(30_000), 1, run.output());
    assert.match(
      run.output(),
      /its file system is mounted noexec\. Set BROOK_CACHE_DIR to a directory on one that allows programs/,
    );
  });

  it("arm64: cross-built, its selftest passes under qemu-user-static", async (t) => {
    if (!commandWorks("aarch64-linux-gnu-g++")) {
      t.skip(
        "no aarch64-linux-gnu-g++ (apt-get install -y g++-aarch64-linux-gnu): the arm64 binary cannot be built here",
      );
      return;
    }
    if (!commandWorks("qemu-aarch64-static")) {
      t.skip(
        "no qemu-aarch64-static (apt-get install -y qemu-user-static): the arm64 binary cannot be run here",
      );
      return;
    }
    const arm64 = await buildBinary("arm64");
    const { dir, exe } = alone(arm64, "arm64");
    // The arm64 binary is dynamically linked: qemu finds its loader and glibc in Debian's cross sysroot.
    const run = start(
      "env",
      ["-i", "qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", exe, "selftest"],
      { cwd: dir },
    );
    assert.equal(await run.exited(120_000), 0, run.output());
    assert.match(run.output(), /linux\/arm64, SQLite [0-9.]+, single binary/);
    assert.match(run.output(), /selftest passed/);
  });
});
