/** `brook demo` (what `npm start` runs), as a user runs it. */
import { match, ok, strictEqual } from "node:assert/strict";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { CHECKOUT_BUNDLE } from "../../scripts/bundle.js";
import { brook, DEMO_ON_FREE_PORTS, start } from "../helpers/process.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function cloudRows(dataDir: string): number {
  const db = new Database(join(dataDir, "cloud.db"), { readonly: true, fileMustExist: true });
  const n = (db.prepare("SELECT count(*) AS n FROM results").get() as { n: number }).n;
  db.close();
  return n;
}

describe("brook demo", () => {
  it("npm start bundles the CLI as the binary does (dist/checkout/brook.cjs) and runs the demo from it", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "brook-demo-")), "data");
    const before = Date.now();
    const npm = start(
      "npm",
      ["start", "--", "--duration", "3s", "--data-dir", dataDir, ...DEMO_ON_FREE_PORTS],
      {
        cwd: ROOT,
      },
    );
    strictEqual(await npm.exited(60_000), 0, npm.output());
    ok(statSync(CHECKOUT_BUNDLE).mtimeMs >= before - 1_000, "the bundle was made by this start");
    match(npm.output(), /dist\/checkout\/brook\.cjs demo/);
    match(npm.output(), /stopped in \d+ ms/);
    ok(cloudRows(dataDir) > 0, "the cloud db has rows");
  });

  it("runs for --duration 5s, prints a status line a second, exits 0 and fills the cloud db", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "brook-demo-")), "data");
    const demo = brook(["demo", "--duration", "5s", "--data-dir", dataDir]);
    strictEqual(await demo.exited(20_000), 0, demo.output());
    const statusLines = demo
      .output()
      .split("\n")
      .filter((l) => /readings\/s .* \| uplink \w+ \| cloud rows \d+/.test(l));
    ok(statusLines.length >= 3, demo.output());
    ok(
      statusLines.some((l) => /readings\/s +[1-9]\d* .*\| uplink live \|/.test(l)),
      demo.output(),
    );
    match(demo.output(), /stopped in \d+ ms/);
    ok(cloudRows(dataDir) > 0, "the cloud db has rows");
  });

  it("stops cleanly on SIGTERM, committing what it has", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "brook-demo-")), "data");
    const demo = brook(["demo", "--data-dir", dataDir, ...DEMO_ON_FREE_PORTS]);
    await demo.waitForLine(/cloud rows [1-9]/, 15_000);
    strictEqual(await demo.stop("SIGTERM"), 0, demo.output());
    match(demo.output(), /stopped in \d+ ms: .* 0 left in the outbox/);
    ok(cloudRows(dataDir) > 0);
  });
});
