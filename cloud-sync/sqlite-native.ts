/**
 * Which better-sqlite3 addon every SQLite file of Brook's opens with. From a checkout,
 * the one npm built (better-sqlite3 finds it itself). In the single binary (a Node
 * single-executable application, whose `require` loads only built-in modules), the first of:
 *   1. the file `BROOK_SQLITE_ADDON` names;
 *   2. `better_sqlite3.node` beside the binary;
 *   3. the copy embedded in the binary, written once to a private directory named by its
 *      SHA-256: `$BROOK_CACHE_DIR` if set (only it), else the first that can be written of
 *      systemd's `$CACHE_DIRECTORY`, `$XDG_CACHE_HOME/brook`, `~/.cache/brook` and
 *      `<tmp>/brook-<uid>`. Each must be this user's alone (not group- or world-writable).
 * A directory on a `noexec` file system cannot hold it: that is a clear error saying what
 * to do, not a crash.
 */
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import sea from "node:sea";
import type Database from "better-sqlite3";

export const ADDON_ASSET = "better_sqlite3.node";
/** The embedded addon's SHA-256, fixed when the binary is built: its bytes are read only to write them. */
declare const __BROOK_ADDON_SHA256__: string | undefined;

/** Carries its catalogue code (agent/errors.ts), by which the CLI reports it. */
export class SqliteAddonError extends Error {
  readonly code = "BROOK_ERR_SQLITE_ADDON";
  constructor(message: string) {
    super(message);
    this.name = "SqliteAddonError";
  }
}

let chosen: { options: Database.Options; from: string } | undefined;

/** Options for `new Database(file, …)`: the addon to use, when Brook must say which. */
export function sqliteOptions(extra: Database.Options = {}): Database.Options {
  chosen ??= choose();
  return { ...extra, ...chosen.options };
}

/** Where the addon in use came from ("npm" from a checkout), for `brook selftest`. */
export function sqliteAddonSource(): string {
  chosen ??= choose();
  return chosen.from;
}

/** `from` says where it came from, e.g. "beside the binary"; the file is made absolute first. */
function load(given: string, from: string): { options: Database.Options; from: string } {
  // Absolute, so `require` never reads it as a package to look up in node_modules folders.
  const file = resolve(given);
  try {
    // The binary's own `require` knows only built-in modules; one made for a path loads files.
    const addon = createRequire(join(dirname(process.execPath), "brook.cjs"))(file) as object;
    // better-sqlite3 takes the loaded addon as well as a path (its types say only path).
    return { options: { nativeBinding: addon as unknown as string }, from: `${from}: ${file}` };
  } catch (err) {
    const text = (err as Error).message;
    if (/failed to map segment|operation not permitted/i.test(text))
      throw new SqliteAddonError(
        `cannot load the SQLite addon ${file}: its file system is mounted noexec. Set BROOK_CACHE_DIR to a directory on one that allows programs (for instance /var/lib/brook/cache), put better_sqlite3.node beside the binary, or name one with BROOK_SQLITE_ADDON`,
      );
    throw new SqliteAddonError(`cannot load the SQLite addon ${file} (${from}): ${text}`);
  }
}

function choose(): { options: Database.Options; from: string } {
  const named = process.env.BROOK_SQLITE_ADDON;
  if (named !== undefined && named !== "") {
    if (!existsSync(named)) throw new SqliteAddonError(`BROOK_SQLITE_ADDON=${named}: no such file`);
    return load(named, "BROOK_SQLITE_ADDON");
  }
  if (!sea.isSea()) return { options: {}, from: "npm (node_modules/better-sqlite3)" };
  const beside = join(dirname(process.execPath), ADDON_ASSET);
  if (existsSync(beside)) {
    // Loading it runs its code: it must be as trustworthy as the binary beside it.
    if (!trusted(beside, true) || !trusted(dirname(beside), true))
      throw new SqliteAddonError(
        `${beside} is not loaded: it, or its directory, may be written by other users. Make both owned by you or root and not group- or world-writable, or remove it`,
      );
    return load(beside, "beside the binary");
  }
  return load(extractEmbedded(), "embedded, extracted to");
}

/** Candidate cache roots, in order; each gets `<sha256>/better_sqlite3.node`. */
function cacheRoots(): string[] {
  const env = process.env;
  // Named by the user, it is the only place: falling back elsewhere would hide the mistake.
  if (env.BROOK_CACHE_DIR) return [resolve(env.BROOK_CACHE_DIR)];
  const roots: string[] = [];
  if (env.CACHE_DIRECTORY) roots.push(env.CACHE_DIRECTORY.split(":")[0] as string);
  if (env.XDG_CACHE_HOME) roots.push(join(env.XDG_CACHE_HOME, "brook"));
  try {
    roots.push(join(homedir(), ".cache", "brook"));
  } catch {
    // no home directory: the next candidate
  }
  roots.push(join(tmpdir(), `brook-${process.getuid?.() ?? "user"}`));
  return roots.map((r) => resolve(r));
}

/**
 * Not a symbolic link, owned by this user (or by root, when `rootToo`), and writable by no
 * one else: what another user could write could be given a planted addon.
 */
function trusted(path: string, rootToo: boolean): boolean {
  const st = lstatSync(path);
  const uid = process.getuid?.();
  return (
    !st.isSymbolicLink() &&
    (uid === undefined || st.uid === uid || (rootToo && st.uid === 0)) &&
    (st.mode & 0o022) === 0
  );
}

/** A directory of this user's alone, made if missing. */
function privateDir(dir: string): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return lstatSync(dir).isDirectory() && trusted(dir, false);
}

function extractEmbedded(): string {
  // Reading the asset maps its 4.5 MB into the process for good: only when it must be written.
  let bytes: Buffer | undefined;
  const embedded = () => {
    bytes ??= Buffer.from(sea.getRawAsset(ADDON_ASSET) as ArrayBuffer);
    return bytes;
  };
  const digest =
    typeof __BROOK_ADDON_SHA256__ === "string"
      ? __BROOK_ADDON_SHA256__
      : createHash("sha256").update(embedded()).digest("hex");
  const problems: string[] = [];
  for (const root of cacheRoots()) {
    const dir = join(root, digest.slice(0, 16));
    const file = join(dir, ADDON_ASSET);
    try {
      if (!privateDir(root) || !privateDir(dir)) {
        problems.push(
          `${dir}: not this user's alone (owned by another, or group- or world-writable)`,
        );
        continue;
      }
      const same =
        existsSync(file) &&
        createHash("sha256").update(readFileSync(file)).digest("hex") === digest;
      if (!same) {
        // Written aside and renamed: two starts at once never load half a file.
        const part = `${file}.${process.pid}.tmp`;
        writeFileSync(part, embedded(), { mode: 0o600 });
        renameSync(part, file);
      }
      return file;
    } catch (err) {
      problems.push(`${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  throw new SqliteAddonError(
    `cannot write the SQLite addon anywhere (${problems.join("; ")}): set BROOK_CACHE_DIR to a directory of your own that only you can write, put better_sqlite3.node beside the binary, or name one with BROOK_SQLITE_ADDON`,
  );
}
