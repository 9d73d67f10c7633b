/**
 * `npm run screenshot`: docs/live-view.png, the live view during the demo (`brook demo`,
 * its simulated spikes), taken in Debian's chromium once a spike shows as a marker.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../test/helpers/browser.js";
import { brook } from "../test/helpers/process.js";

const out = fileURLToPath(new URL("../docs/live-view.png", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "brook-screenshot-"));
const demo = brook(
  [
    "demo",
    "--data-dir",
    join(dir, "data"),
    "--edge-port",
    "0",
    "--cloud-port",
    "0",
    "--http-port",
    "0",
  ],
  { cwd: dir },
);
try {
  const line = await demo.waitForLine(/^live view: http:\/\/127\.0\.0\.1:\d+\//, 30_000);
  const url = (/http:\/\/127\.0\.0\.1:\d+\//.exec(line) as RegExpExecArray)[0];
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(url);
    // A spike's marker, and most of a minute of figures behind the charts.
    await page.locator("circle.marker").first().waitFor({ timeout: 120_000 });
    await page.waitForTimeout(40_000);
    await page.locator("circle.marker").first().waitFor({ timeout: 120_000 });
    await page.screenshot({ path: out, fullPage: true });
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
  }
} finally {
  await demo.stop();
}
