/**
 * The live view in a real browser (Debian's chromium, driven by playwright-core) against a
 * real agent fed by `brook sim`, a spike published by `mosquitto_pub`, a cloud mosquitto
 * stopped midway; and `brook status` against the same agent. The page's screenshot is kept
 * in test-artifacts/live-view.png.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { chromiumMissing, launchChromium } from "../helpers/browser.js";
import { startMosquitto } from "../helpers/mosquitto.js";
import { brook, freePort, start, stopAfterAll } from "../helpers/process.js";

const ARTIFACTS = join(import.meta.dirname, "../../test-artifacts");

const RULES = `rules:
  - name: per-second
    window: { type: tumbling, size: 1s }
    aggregates: [count, mean, min, max]
  - name: spikes
    window: { type: count, n: 60 }
    aggregates: [mean, stddev]
    detectors: [{ type: zscore, threshold: 6, minSamples: 20 }]
`;

describe("the live view", () => {
  const stops = stopAfterAll();

  it("in Chromium: a sensor's sparkline and band render, a spike shows as a marker and in the alert list within a second of its reading, and the outbox and uplink panels change when the cloud broker stops; brook status says the same", {
    skip: chromiumMissing() ?? false,
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-live-"));
    const cloud = await startMosquitto(dir);
    stops.push(() => cloud.stop());
    const httpPort = await freePort();
    writeFileSync(join(dir, "rules.yaml"), RULES);
    const config = join(dir, "config.yaml");
    writeFileSync(
      config,
      [
        "device: live-pi",
        "edge: { embedded: { host: 127.0.0.1, port: 0 } }",
        "rules: rules.yaml",
        "dataDir: ./data",
        `uplink: { url: ${cloud.url} }`,
        `http: { host: 127.0.0.1, port: ${httpPort} }`,
        "",
      ].join("\n"),
    );
    const agent = brook(["agent", "-c", config], { cwd: dir });
    stops.push(() => agent.stop());
    const ready = JSON.parse(await agent.waitForLine(/agent ready/, 30_000)) as { edge: string };
    const sim = brook([
      "sim",
      "--broker",
      ready.edge,
      "--devices",
      "2",
      "--sensors",
      "temperature",
      "--interval",
      "100ms",
      "--duration",
      "120s",
      "--start",
      "now",
      "--seed",
      "3",
    ]);
    stops.push(() => sim.stop());

    const browser = await launchChromium();
    stops.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const url = `http://127.0.0.1:${httpPort}`;
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    stops.push(async () => assert.deepEqual(pageErrors, [], "the page's script failed"));
    await page.goto(`${url}/`);
    // The default source names a sensor by the topic's last two levels.
    const sensor = "device-01/temperature";
    const card = () => page.locator(`[data-sensor="${sensor}"]`);
    // The sparkline: 3 s of its readings at least, and its window's mean and band.
    // (Expressions evaluated in the page, as strings: this project's types have no DOM.)
    await page.waitForFunction(
      `(document.querySelector('[data-sensor="${sensor}"] polyline.values')?.getAttribute("points") ?? "").split(" ").length >= 30`,
      null,
      { timeout: 30_000 },
    );
    await card().locator("rect.band").waitFor({ timeout: 10_000 });
    await card().locator("line.mean").waitFor({ state: "attached", timeout: 1_000 });
    await page.waitForFunction(`document.getElementById("uplink").textContent === "live"`);

    // A spike, from a peer no one here wrote.
    const spikeTs = Date.now();
    const published = Date.now();
    const pub = start("mosquitto_pub", [
      "-h",
      "127.0.0.1",
      "-p",
      new URL(ready.edge).port,
      "-q",
      "1",
      "-t",
      `sensors/${sensor}`,
      "-m",
      JSON.stringify({ ts: spikeTs, value: 1000 }),
    ]);
    assert.equal(await pub.exited(), 0, pub.output());
    const left = () => Math.max(1, 1_000 - (Date.now() - published));
    await page
      .locator('#alerts li[data-state="open"]')
      .filter({ hasText: `${sensor} = 1000` })
      .first()
      .waitFor({ timeout: left() });
    await card().locator(`circle.marker[data-ts="${spikeTs}"]`).waitFor({ timeout: left() });
    const shownAfterMs = Date.now() - published;
    assert.ok(shownAfterMs <= 1_000, `the alert showed ${shownAfterMs} ms after its reading`);

    // The cloud broker goes away: the uplink leaves "live", results wait in the outbox.
    await cloud.stop();
    await page.waitForFunction(
      `document.getElementById("uplink").textContent !== "live" && Number(document.getElementById("outbox").textContent) > 0`,
      null,
      { timeout: 20_000 },
    );
    await page.locator('#series-uplink rect:not([data-state="live"])').first().waitFor();
    await page.locator("#series-outbox polyline").waitFor({ state: "attached" });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "live-view.png"), fullPage: true });

    // brook status, from the config and from the URL.
    const text = brook(["status", "-c", config]);
    assert.equal(await text.exited(), 0, text.output());
    const out = text.output();
    assert.match(out, /^state +ready$/m);
    assert.match(out, /^ready +yes$/m);
    assert.match(out, /^uplink +(offline|connecting)/m);
    assert.match(out, /^outbox +[1-9]\d* results/m);
    assert.match(out, /^rules +per-second, spikes$/m);
    const json = brook(["status", "--url", url, "--json"]);
    assert.equal(await json.exited(), 0, json.output());
    const report = JSON.parse(json.output().trim().split("\n").at(-1) as string);
    assert.equal(report.device, "live-pi");
    assert.notEqual(report.uplink.state, "live");
    assert.ok(report.outbox.depth > 0 && report.readings > 0 && report.sensors.tracked === 2);
  });

  it("brook status says clearly when no agent answers, and how to give the endpoint", async () => {
    const nobody = brook(["status", "--url", `http://127.0.0.1:${await freePort()}`]);
    assert.equal(await nobody.exited(), 1);
    assert.match(nobody.output(), /no agent answers at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    const neither = brook(["status"]);
    assert.equal(await neither.exited(), 2);
    assert.match(neither.output(), /give --url http:\/\/HOST:PORT or --config/);
  });
});
