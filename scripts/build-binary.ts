/**
 * `npm run build:binary [-- --arch arm64]`: Brook as one file, `dist/brook-linux-<arch>`,
 * a Node single-executable application (SEA) built offline:
 *   1. Node 22 LTS for the target from the npm registry (node-linux-<arch>, headers included);
 *   2. better-sqlite3's addon compiled against that Node's headers — with Debian's
 *      g++-aarch64-linux-gnu for arm64 — and cached in dist/.build;
 *   3. the CLI bundled by esbuild into one CommonJS file, optional modules SEA cannot load
 *      aliased to a stub, the version fixed;
 *   4. the SEA blob (arch-independent without a code cache) made by the host's Node 22,
 *      with the addon as an asset; the Node binary stripped, the blob injected by postject.
 * At start the binary writes the addon to a private directory named by its hash and loads
 * it (cloud-sync/sqlite-native.ts).
 */
import { type ExecFileSyncOptions, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleCli } from "./bundle.js";

/** The LTS embedded; Node 20, on which the project runs here, reached its end of life. */
export const NODE_VERSION = "22.23.3";
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const ARCHES = ["x64", "arm64"] as const;
/**
 * V8 flags the binary sets for itself (docs/BENCHMARKS.md, footprint): a new space of 1 MB
 * semi-spaces instead of up to 16 MB each; the old space collected once it has grown by half
 * over what the last full collection kept, not by up to four times (V8's own factor for a
 * small heap), which let promoted garbage, and the socket chunks it holds, reach 30 MB.
 */
export const SEA_V8_FLAGS = ["--max-semi-space-size=1", "--heap-growing-percent=50"];
type Arch = (typeof ARCHES)[number];

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const work = join(dist, ".build");
const log = (s: string) => process.stdout.write(`${s}\n`);

function run(command: string, args: string[], options: ExecFileSyncOptions = {}): string {
  return execFileSync(command, args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    ...options,
  }).toString();
}

/** Whether `command args` runs and exits 0 (by default: is the command there at all). */
export function commandWorks(command: string, args = ["--version"]): boolean {
  try {
    run(command, args);
    return true;
  } catch {
    return false;
  }
}

function hostArch(): Arch {
  if (process.platform !== "linux" || !(ARCHES as readonly string[]).includes(process.arch))
    throw new Error(
      `the binary is built on linux x64 or arm64, not ${process.platform}/${process.arch}`,
    );
  return process.arch as Arch;
}

/** Node `NODE_VERSION` for `arch`, unpacked from its npm package (npm pack: it installs on no other arch). */
function nodeFor(arch: Arch): string {
  const dir = join(work, `node-v${NODE_VERSION}-linux-${arch}`);
  if (existsSync(join(dir, "bin", "node"))) return dir;
  mkdirSync(dir, { recursive: true });
  log(`fetching node-linux-${arch}@${NODE_VERSION} from the npm registry`);
  const tgz = run(
    "npm",
    ["pack", `node-linux-${arch}@${NODE_VERSION}`, "--pack-destination", work, "--silent"],
    {
      cwd: work,
    },
  )
    .trim()
    .split("\n")
    .at(-1) as string;
  const integrity = `sha512-${createHash("sha512")
    .update(readFileSync(join(work, tgz)))
    .digest("base64")}`;
  if (integrity !== NODE_INTEGRITY[arch])
    throw new Error(
      `node-linux-${arch}@${NODE_VERSION} from the registry does not match its pinned digest`,
    );
  run("tar", ["xzf", join(work, tgz), "-C", dir, "--strip-components=1"]);
  rmSync(join(work, tgz));
  if (!existsSync(join(dir, "include", "node", "node.h")))
    throw new Error(`node-linux-${arch}@${NODE_VERSION} has no C headers: cannot build the addon`);
  return dir;
}

const CROSS: Record<Arch, string> = { x64: "x86_64-linux-gnu-", arm64: "aarch64-linux-gnu-" };
/** The npm registry's own digests of the Node packages embedded (npm view …@version dist.integrity). */
const NODE_INTEGRITY: Record<Arch, string> = {
  x64: "sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==",
  arm64:
    "sha512-l3DAHZreylo+p9QXDtsOrjG2JXJqVzYXnAGmIQNOUNARcMppTO2cmewVQP+36tjJnSE+dzpMNtgW+c3oiDvXtA==",
};

/** Where better_sqlite3.node for `arch` and Node `NODE_VERSION` is built and kept (dist/.build). */
export function addonPath(arch: Arch): { version: string; dir: string; addon: string } {
  const bs3 = JSON.parse(
    readFileSync(join(root, "node_modules/better-sqlite3/package.json"), "utf8"),
  ) as { version: string };
  const dir = join(work, `better-sqlite3-${bs3.version}-node${NODE_VERSION}-${arch}`);
  return { version: bs3.version, dir, addon: join(dir, "build", "Release", "better_sqlite3.node") };
}

/** That addon, compiled first if it is not there yet. */
function addonFor(arch: Arch, nodeDir: string): string {
  const { version, dir, addon } = addonPath(arch);
  if (existsSync(addon)) return addon;
  const cross = arch === hostArch() ? "" : CROSS[arch];
  if (cross !== "" && !commandWorks(`${cross}g++`))
    throw new Error(
      `building for ${arch} needs the cross compiler ${cross}g++: apt-get install -y g++-aarch64-linux-gnu`,
    );
  log(`compiling better-sqlite3 ${version} for node ${NODE_VERSION} ${arch} (a minute or two)`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(root, "node_modules/better-sqlite3"), dir, {
    recursive: true,
    filter: (src) => !src.includes(`${join("better-sqlite3", "build")}`),
  });
  // Called directly, node-gyp sees no npm config (npm here points nodedir at Node 20's headers).
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(work, "gyp-home") };
  for (const k of Object.keys(env)) if (k.toLowerCase().startsWith("npm_config_")) delete env[k];
  if (cross !== "")
    Object.assign(env, {
      CC: `${cross}gcc`,
      CXX: `${cross}g++`,
      LINK: `${cross}g++`,
      AR: `${cross}ar`,
    });
  const gyp = join(root, "node_modules/node-gyp/bin/node-gyp.js");
  execFileSync(
    process.execPath,
    [gyp, "rebuild", "--release", "-j", "2", `--nodedir=${nodeDir}`, `--arch=${arch}`],
    { cwd: dir, env, stdio: ["ignore", "ignore", "inherit"] },
  );
  if (!existsSync(addon)) throw new Error(`node-gyp built no ${addon}`);
  return addon;
}

/** The bundle for the binary, with the embedded addon's digest fixed in it (cloud-sync/sqlite-native.ts). */
function bundle(arch: Arch, addon: string): Promise<string> {
  return bundleCli({
    // One file per arch: each holds its own addon's digest (two builds at once must not mix).
    outfile: join(work, `brook-${arch}.cjs`),
    target: "node22",
    define: {
      __BROOK_ADDON_SHA256__: JSON.stringify(
        createHash("sha256").update(readFileSync(addon)).digest("hex"),
      ),
    },
  });
}

export async function buildBinary(arch: Arch): Promise<string> {
  const started = Date.now();
  mkdirSync(work, { recursive: true });
  const host = hostArch();
  const hostNode = join(nodeFor(host), "bin", "node");
  const targetNode = nodeFor(arch);
  const addon = addonFor(arch, targetNode);
  const main = await bundle(arch, addon);
  const blob = join(work, `brook-${arch}.blob`);
  const seaConfig = join(work, `sea-config-${arch}.json`);
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main,
      output: blob,
      disableExperimentalSEAWarning: true,
      // V8 sized for a small device (SEA_V8_FLAGS). NODE_OPTIONS adds flags but cannot undo these.
      execArgv: SEA_V8_FLAGS,
      execArgvExtension: "env",
      useSnapshot: false,
      useCodeCache: false,
      assets: { "better_sqlite3.node": addon },
    }),
  );
  run(hostNode, ["--experimental-sea-config", seaConfig], { cwd: work });
  const out = join(dist, `brook-linux-${arch}`);
  const part = `${out}.part`;
  copyFileSync(join(targetNode, "bin", "node"), part);
  chmodSync(part, 0o755);
  const strip = `${arch === host ? "" : CROSS[arch]}strip`;
  if (commandWorks(strip)) run(strip, [part]);
  else log(`note: ${strip} not found, so the binary keeps Node's symbols (about 18 MB more)`);
  run(process.execPath, [
    join(root, "node_modules/postject/dist/cli.js"),
    part,
    "NODE_SEA_BLOB",
    blob,
    "--sentinel-fuse",
    SEA_FUSE,
  ]);
  renameSync(part, out);
  const mb = (statSync(out).size / 1e6).toFixed(1);
  log(
    `built ${out} (${mb} MB, node ${NODE_VERSION} ${arch}) in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  return out;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const eq = args.find((a) => a.startsWith("--arch="));
  const arch = (
    eq !== undefined
      ? eq.slice("--arch=".length)
      : args.includes("--arch")
        ? args[args.indexOf("--arch") + 1]
        : hostArch()
  ) as Arch;
  if (!(ARCHES as readonly string[]).includes(arch)) {
    process.stderr.write(`build:binary: --arch must be x64 or arm64, not ${arch}\n`);
    process.exit(2);
  }
  try {
    await buildBinary(arch);
  } catch (err) {
    process.stderr.write(`build:binary: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
