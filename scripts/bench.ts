/**
 * `npm run bench`: runs every `*.bench.ts` beside the code it measures, prints messages/s
 * (medians) with the ratio to the baseline measured in the same run, and writes
 * `dist/bench.json`. These machines are shared and noisy: compare ratios, not raw figures.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

function findBenches(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === "node_modules" || e.name.startsWith(".")) return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? findBenches(path) : e.name.endsWith(".bench.ts") ? [path] : [];
  });
}

const report: Record<string, Record<string, number>> = {};
for (const file of findBenches(root).sort()) {
  const name = relative(root, file);
  const mod = (await import(pathToFileURL(file).href)) as {
    run: () => Promise<Record<string, number>>;
  };
  const results = await mod.run();
  report[name] = results;
  const baseline = Object.entries(results).find(([k]) => k.startsWith("baseline"))?.[1];
  console.log(name);
  for (const [task, perSecond] of Object.entries(results)) {
    const ratio = baseline ? ` (${(perSecond / baseline).toFixed(2)}× baseline)` : "";
    console.log(
      `  ${task.padEnd(40)} ${perSecond.toLocaleString("en-US").padStart(12)} msgs/s${ratio}`,
    );
  }
}
mkdirSync(join(root, "dist"), { recursive: true });
writeFileSync(
  join(root, "dist", "bench.json"),
  `${JSON.stringify({ node: process.version, at: new Date().toISOString(), report }, null, 2)}\n`,
);
console.log("wrote dist/bench.json");
