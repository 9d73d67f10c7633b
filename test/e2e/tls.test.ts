/**
 * The uplink over TLS with a username and password, to a real mosquitto with a private CA:
 * the agent trusts the CA it is given and refuses a broker it cannot verify.
 */
import { match, ok, strictEqual } from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { makeCertificates } from "../helpers/certs.js";
import { startMosquitto } from "../helpers/mosquitto.js";
import { brook, eventually, start, stopAfterAll } from "../helpers/process.js";

describe("uplink over TLS with a password", () => {
  const cleanups = stopAfterAll();

  it("delivers through a TLS mosquitto that requires credentials, and refuses an unverifiable broker", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-tls-"));
    const certs = makeCertificates(dir);
    const passwords = join(dir, "passwords");
    execFileSync("mosquitto_passwd", ["-b", "-c", passwords, "pi-01", "s3cret"], { stdio: "pipe" });
    const cloud = await startMosquitto(dir, {
      listener: (port) => [
        `listener ${port} 127.0.0.1`,
        `cafile ${certs.ca}`,
        `certfile ${certs.cert}`,
        `keyfile ${certs.key}`,
        "allow_anonymous false",
        `password_file ${passwords}`,
      ],
    });
    cleanups.push(() => cloud.stop());
    const url = `mqtts://localhost:${cloud.port}`;
    const cloudDb = join(dir, "cloud.db");
    const sink = brook([
      "cloud-sink",
      "--broker",
      url,
      "--db",
      cloudDb,
      "--ca",
      certs.ca,
      "--username",
      "pi-01",
      "--password",
      "s3cret",
    ]);
    cleanups.push(() => sink.stop());
    await sink.waitForLine(/cloud sink ready/);

    const runAgent = async (name: string, ca: string) => {
      writeFileSync(
        join(dir, `${name}.yaml`),
        [
          "device: pi-01",
          "edge: { embedded: { port: 0 } }",
          `dataDir: ./${name}-data`,
          `uplink: { url: "${url}", username: pi-01, password: s3cret, tls: { ca: ${ca} } }`,
          "http: { port: 0 }",
          "",
        ].join("\n"),
      );
      const agent = brook(["agent", "--config", join(dir, `${name}.yaml`)]);
      cleanups.push(() => agent.stop());
      const ready = JSON.parse(await agent.waitForLine(/agent ready/)) as { edge: string };
      const lines = [0, 60_000, 120_000]
        .map((o) => JSON.stringify({ ts: 1_700_000_040_000 + o, value: o / 1000 }))
        .join("\n");
      const pub = start(
        "mosquitto_pub",
        ["-h", "127.0.0.1", "-p", new URL(ready.edge).port, "-q", "1", "-t", "sensors/p/t", "-l"],
        { stdin: `${lines}\n` },
      );
      strictEqual(await pub.exited(), 0);
      return agent;
    };

    const trusted = await runAgent("trusted", certs.ca);
    await eventually(
      () => {
        const db = new Database(cloudDb, { readonly: true });
        const n = (db.prepare("SELECT count(*) AS n FROM results").get() as { n: number }).n;
        db.close();
        return n >= 2 ? n : undefined;
      },
      15_000,
      "results in the cloud db over TLS",
    );
    strictEqual(await trusted.stop(), 0);

    const untrusted = await runAgent("untrusted", certs.otherCa);
    await untrusted.waitForLine(/uplink error/, 15_000);
    match(untrusted.output(), /self[- ]signed|unable to (get|verify)|certificate/i);
    ok(
      !/"state":"live"/.test(untrusted.output()),
      "never went live with a broker it cannot verify",
    );
    strictEqual(await untrusted.stop(), 0);
  });
});
