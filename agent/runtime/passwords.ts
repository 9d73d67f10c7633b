/**
 * The embedded broker's credentials file, managed by `brook passwd`: one line per user,
 * `user:scrypt$<log2 N>$<r>$<p>$<salt, base64>$<hash, base64>`, scrypt from node:crypto.
 * Only the hashes are stored; a password is checked by hashing it again with the line's
 * salt and parameters and comparing in constant time. Lines starting with # are comments.
 */
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { BrookError } from "../errors.js";

/** log2 N of new hashes: 2^14, scrypt's interactive-login cost (about 50 ms here). */
export const DEFAULT_COST = 14;
const KEY_BYTES = 32;
const MIN_SALT_BYTES = 8;
const MIN_HASH_BYTES = 16;
/** Password checks that may wait for scrypt at once; beyond them a CONNECT is refused at once. */
const MAX_PENDING_CHECKS = 64;
/** A user name: what MQTT clients send as their username, and a topic level in the default ACL. */
export const USER_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;

interface Entry {
  readonly cost: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Parses a credentials file's text; a malformed line is an error naming its line number. */
export function parsePasswords(text: string, file: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    const user = line.slice(0, colon);
    if (colon < 0 || !USER_PATTERN.test(user) || parseEntry(line.slice(colon + 1)) === undefined)
      throw new BrookError(
        "BROOK_ERR_CONFIG_INVALID",
        `${file}:${i + 1}: not a line of brook passwd (user:scrypt$…); edit the file with brook passwd`,
      );
    users.set(user, line.slice(colon + 1));
  });
  return users;
}

export function readPasswords(file: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new BrookError(
      "BROOK_ERR_CONFIG_UNREADABLE",
      `cannot read the credentials file ${file} (${(err as NodeJS.ErrnoException).code ?? err})`,
    );
  }
  return parsePasswords(text, file);
}

export function formatPasswords(users: ReadonlyMap<string, string>): string {
  return [...users].map(([u, h]) => `${u}:${h}\n`).join("");
}

/** A new hash line for a password (synchronous: for `brook passwd`). */
export function hashPassword(password: string, cost = DEFAULT_COST): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, KEY_BYTES, options(cost, 8, 1));
  return `scrypt$${cost}$8$1$${salt.toString("base64")}$${hash.toString("base64")}`;
}

function options(cost: number, r: number, p: number) {
  return { N: 2 ** cost, r, p, maxmem: 256 * 2 ** cost * r + 1024 * 1024 };
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A line's hash; undefined unless its parameters are sane and its salt and hash long enough to mean something. */
function parseEntry(text: string): Entry | undefined {
  const [kind, cost, r, p, salt, hash, extra] = text.split("$");
  if (kind !== "scrypt" || hash === undefined || extra !== undefined) return undefined;
  const n = [Number(cost), Number(r), Number(p)];
  if (!n.every((x) => Number.isInteger(x) && x > 0)) return undefined;
  if ((n[0] as number) > 20 || (n[1] as number) > 32 || (n[2] as number) > 16) return undefined;
  if (!BASE64.test(salt as string) || !BASE64.test(hash)) return undefined;
  const entry = {
    cost: n[0] as number,
    r: n[1] as number,
    p: n[2] as number,
    salt: Buffer.from(salt as string, "base64"),
    hash: Buffer.from(hash, "base64"),
  };
  // An empty hash would match any password (scrypt of length 0 is empty).
  return entry.salt.length >= MIN_SALT_BYTES && entry.hash.length >= MIN_HASH_BYTES
    ? entry
    : undefined;
}

/**
 * Checks passwords against a credentials file's users, off the event loop (scrypt runs in
 * libuv's thread pool). A check that succeeded is remembered for this run (by a SHA-256 of
 * the user and password), so a sensor that reconnects does not pay scrypt again. An
 * unknown user costs the same scrypt as a known one (no telling which users exist by the
 * time a refusal takes); at most MAX_PENDING_CHECKS wait for it at once, beyond them a
 * check fails at once (a flood of CONNECTs does not queue without end).
 */
export class PasswordCheck {
  private readonly entries = new Map<string, Entry>();
  private readonly lines: ReadonlyMap<string, string>;
  private readonly verified = new Set<string>();
  private pending = 0;
  /** scrypt runs so far (for tests: unknown users are hashed too) */
  hashed = 0;

  constructor(users: ReadonlyMap<string, string>) {
    this.lines = users;
    for (const [user, line] of users) {
      const entry = parseEntry(line);
      if (entry !== undefined) this.entries.set(user, entry);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** The user's line in the file (what a password was checked against), if it has one. */
  lineOf(user: string): string | undefined {
    return this.lines.get(user);
  }

  verify(user: string, password: Buffer, done: (ok: boolean) => void): void {
    const entry = this.entries.get(user);
    const key = createHash("sha256").update(user).update("\0").update(password).digest("hex");
    if (entry !== undefined && this.verified.has(key)) {
      done(true);
      return;
    }
    if (this.pending >= MAX_PENDING_CHECKS) {
      done(false);
      return;
    }
    const against = entry ?? DUMMY;
    this.pending++;
    this.hashed++;
    scrypt(
      password,
      against.salt,
      against.hash.length,
      options(against.cost, against.r, against.p),
      (err, got) => {
        this.pending--;
        const ok =
          entry !== undefined &&
          err === null &&
          got.length === entry.hash.length &&
          timingSafeEqual(got, entry.hash);
        if (ok) {
          if (this.verified.size >= 100_000) this.verified.clear();
          this.verified.add(key);
        }
        done(ok);
      },
    );
  }
}

/** What an unknown user's password is hashed against: the cost of a real line. */
const DUMMY: Entry = {
  cost: DEFAULT_COST,
  r: 8,
  p: 1,
  salt: Buffer.alloc(16, 1),
  hash: Buffer.alloc(KEY_BYTES),
};

/**
 * The credentials file as it is now: read again when it changes (checked with `refresh`,
 * by its inode, size and modification time). A change that does not parse keeps the
 * users before it, and says why.
 */
export class CredentialsFile {
  private stamp: string;
  check: PasswordCheck;

  constructor(readonly file: string) {
    this.stamp = stampOf(file);
    this.check = new PasswordCheck(readPasswords(file));
  }

  /** Reads the file again if it changed: "changed", "unchanged", or the error that kept the old users. */
  refresh(): "changed" | "unchanged" | Error {
    const stamp = stampOf(this.file);
    if (stamp === this.stamp) return "unchanged";
    try {
      this.check = new PasswordCheck(readPasswords(this.file));
      this.stamp = stamp;
      return "changed";
    } catch (err) {
      this.stamp = stamp; // said once per change, not at every look
      return err as Error;
    }
  }
}

function stampOf(file: string): string {
  try {
    const st = statSync(file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code}`;
  }
}
