/**
 * A real PostgreSQL server for tests and benchmarks (Debian's `postgresql` package): a
 * cluster made by `initdb` in a temporary directory, `postgres` on a free loopback port,
 * trust authentication for the user `brook`. initdb refuses to run as root: as root, both
 * run as the `postgres` user (setpriv), the directory theirs.
 */
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type Running, start } from "./process.js";

/** Debian's server binaries (the newest version installed), or undefined. */
export function postgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(a) - Number(b));
  const newest = versions.at(-1);
  return newest === undefined ? undefined : join(root, newest, "bin");
}

/** Why PostgreSQL tests cannot run here, or undefined. */
export function postgresMissing(): string | undefined {
  return postgresBin() === undefined
    ? "needs PostgreSQL's server (apt-get install postgresql)"
    : undefined;
}

export interface Postgres {
  readonly url: string;
  readonly port: number;
  process: Running;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** fsync and synchronous commits as a production server has them (default); false for tests' speed */
  durable?: boolean;
}

/** As root: the command run as the `postgres` user, who may own the cluster. */
function asPostgres(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", command, ...args]];
}

export async function startPostgres(options: PostgresOptions = {}): Promise<Postgres> {
  const bin = postgresBin();
  if (bin === undefined) throw new Error(postgresMissing());
  const dir = mkdtempSync(join(tmpdir(), "brook-pg-"));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, "data");
  const [init, initArgs] = asPostgres(join(bin, "initdb"), [
    "-D",
    data,
    "-U",
    "brook",
    "-A",
    "trust",
    "-E",
    "UTF8",
    "--no-sync",
  ]);
  execFileSync(init, initArgs, { stdio: "ignore" });
  const durable = options.durable ?? true;
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const [cmd, args] = asPostgres(join(bin, "postgres"), [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `fsync=${durable ? "on" : "off"}`,
      "-c",
      `synchronous_commit=${durable ? "on" : "off"}`,
      "-c",
      "max_connections=200",
    ]);
    const proc = start(cmd, args);
    try {
      await proc.waitForLine(/database system is ready to accept connections/, 30_000);
    } catch (err) {
      await proc.stop().catch(() => undefined);
      // A port taken meanwhile ends the server at once: another port.
      if (attempt < 2) continue;
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      port,
      url: `postgres://brook@127.0.0.1:${port}/postgres`,
      process: proc,
      async stop() {
        // SIGINT: PostgreSQL's fast shutdown.
        await proc.stop("SIGINT").catch(() => proc.child.kill("SIGKILL"));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
