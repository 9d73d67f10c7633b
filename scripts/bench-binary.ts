/**
 * `npm run bench:binary [-- --json] [-- --runs N]`: what the README's "Install on a device"
 * states about the single binary, measured: its size raw and `xz -9` compressed (per arch
 * built), the time from exec to "agent ready" of `brook agent` on the embedded broker, and
 * its RSS once idle (5 s after ready). Baseline in the same run: `node -e 0` of the Node
 * embedded, so start-up is seen against Node's own. Medians of N runs (default 5).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { humanLog, median, numberArg } from "./bench-util.js";
import { NODE_VERSION } from "./build-binary.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const runs = numberArg(args, "--runs", 5);
const root = fileURLToPath(new URL("..", import.meta.url));
const log = humanLog(args);

const sizes: Record<string, { raw: number; xz: number }> = {};
for (const arch of ["x64", "arm64"]) {
  const file = join(root, "dist", `brook-linux-${arch}`);
  if (!existsSync(file)) continue;
  const xz = execFileSync("xz", ["-9", "-T2", "-c", file], { maxBuffer: 1 << 30 }).length;
  sizes[arch] = { raw: statSync(file).size, xz };
  log(`${arch}: ${(sizes[arch].raw / 1e6).toFixed(1)} MB raw, ${(xz / 1e6).toFixed(1)} MB xz -9`);
}

const binary = join(root, "dist", `brook-linux-${process.arch}`);
if (!existsSync(binary)) throw new Error(`no ${binary}: npm run build:binary first`);

/** ms from spawn until a line matching `ready` on stdout or stderr; the process then idles 5 s for its RSS. */
function startOnce(command: string, argv: string[], cwd: string, ready: RegExp | undefined) {
  return new Promise<{ ms: number; rssMb: number }>((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, argv, { cwd, stdio: ["ignore", "pipe", "pipe"], env: {} });
    let text = "";
    let readyMs: number | undefined;
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (readyMs === undefined && ready !== undefined && ready.test(text)) {
        readyMs = performance.now() - t0;
        setTimeout(() => {
          const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
          const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
          child.kill("SIGTERM");
          resolve({ ms: readyMs as number, rssMb: rss });
        }, 5_000);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      if (ready === undefined) resolve({ ms: performance.now() - t0, rssMb: Number.NaN });
      else if (readyMs === undefined) reject(new Error(`exited ${code} before ready:\n${text}`));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "brook-bench-binary-"));
writeFileSync(
  join(dir, "config.yaml"),
  "device: bench\nedge: { embedded: { host: 127.0.0.1, port: 0 } }\ndataDir: ./data\nhttp: { host: 127.0.0.1, port: 0 }\n",
);
const node22 = join(
  root,
  "dist",
  ".build",
  `node-v${NODE_VERSION}-linux-${process.arch}`,
  "bin",
  "node",
);
const ready: number[] = [];
const rss: number[] = [];
const nodeStart: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const r = await startOnce(binary, ["agent", "-c", "config.yaml"], dir, /agent ready/);
    ready.push(r.ms);
    rss.push(r.rssMb);
    if (existsSync(node22))
      nodeStart.push((await startOnce(node22, ["-e", "0"], dir, undefined)).ms);
    log(`run ${i + 1}: ready in ${r.ms.toFixed(0)} ms, idle RSS ${r.rssMb.toFixed(1)} MB`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const summary = {
  node: NODE_VERSION,
  arch: process.arch,
  sizes,
  readyMs: median(ready),
  idleRssMb: median(rss),
  baselineNodeStartMs: nodeStart.length > 0 ? median(nodeStart) : undefined,
};
log(
  `median of ${runs}: exec → "agent ready" ${summary.readyMs.toFixed(0)} ms (node -e 0 of node ${NODE_VERSION}: ${summary.baselineNodeStartMs?.toFixed(0) ?? "–"} ms); idle RSS ${summary.idleRssMb.toFixed(1)} MB`,
);
if (json) console.log(JSON.stringify(summary));
