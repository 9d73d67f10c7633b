/**
 * The embedded broker's credentials file, managed by `brook passwd`: one line per user,
 * `user:scrypt$<log2 N>$<r>$<p>$<salt, base64>$<hash, base64>`, scrypt from node:crypto.
 * Only the hashes are stored; a password is checked by hashing it again with the line's
 * salt and parameters and comparing in constant time. Lines starting with # are comments.
 */
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { BrookError } from "../errors.js";

/** log2 N of new hashes: 2^14, scrypt's interactive-login cost (about 50 ms here). */
export const DEFAULT_COST = 14;
const KEY_BYTES = 32;
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

function parseEntry(text: string): Entry | undefined {
  const [kind, cost, r, p, salt, hash] = text.split("$");
  if (kind !== "scrypt" || hash === undefined) return undefined;
  const n = [Number(cost), Number(r), Number(p)];
  if (!n.every((x) => Number.isInteger(x) && x > 0) || (n[0] as number) > 20) return undefined;
  return {
    cost: n[0] as number,
    r: n[1] as number,
    p: n[2] as number,
    salt: Buffer.from(salt as string, "base64"),
    hash: Buffer.from(hash, "base64"),
  };
}

/**
 * Checks passwords against a credentials file's users, off the event loop (scrypt runs in
 * libuv's thread pool). A check that succeeded is remembered for this run (by a SHA-256 of
 * the user and password), so a sensor that reconnects does not pay scrypt again.
 */
export class PasswordCheck {
  private readonly entries = new Map<string, Entry>();
  private readonly verified = new Set<string>();

  constructor(users: ReadonlyMap<string, string>) {
    for (const [user, line] of users) {
      const entry = parseEntry(line);
      if (entry !== undefined) this.entries.set(user, entry);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  verify(user: string, password: Buffer, done: (ok: boolean) => void): void {
    const entry = this.entries.get(user);
    if (entry === undefined) {
      done(false);
      return;
    }
    const key = createHash("sha256").update(user).update("\0").update(password).digest("hex");
    if (this.verified.has(key)) {
      done(true);
      return;
    }
    scrypt(
      password,
      entry.salt,
      entry.hash.length,
      options(entry.cost, entry.r, entry.p),
      (err, got) => {
        const ok =
          err === null && got.length === entry.hash.length && timingSafeEqual(got, entry.hash);
        if (ok) {
          if (this.verified.size >= 100_000) this.verified.clear();
          this.verified.add(key);
        }
        done(ok);
      },
    );
  }
}
