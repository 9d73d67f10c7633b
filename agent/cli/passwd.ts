/**
 * `brook passwd`: the embedded broker's credentials file (edge.embedded.auth.passwords).
 * `add FILE USER` sets a user's password — asked for on a terminal (not echoed, twice), or
 * read as the first line of standard input — storing only its scrypt hash; `remove FILE
 * USER`; `list FILE`. The file is written whole to a temporary file and renamed over the
 * old one, keeping its owner and mode (a new one: readable by its owner only). A running
 * agent reads it again within 2 s (or at SIGHUP): a user removed is disconnected.
 */
import {
  closeSync,
  existsSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  openSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { BrookError } from "../errors.js";
import {
  formatPasswords,
  hashPassword,
  parsePasswords,
  readPasswords,
  USER_PATTERN,
} from "../runtime/passwords.js";

function usersOf(file: string): Map<string, string> {
  return existsSync(file) ? readPasswords(file) : parsePasswords("", file);
}

/**
 * Writes the file whole, to a temporary file synced and renamed over it (a crash leaves
 * the old file or the new one, never half of one). An existing file keeps its owner, group
 * and mode (the agent's user must go on reading it); a new one is readable by its owner only.
 * Returns a note when the file is new and written by root.
 */
function save(file: string, users: ReadonlyMap<string, string>): string | undefined {
  const old = existsSync(file) ? statSync(file) : undefined;
  const mode = old === undefined ? 0o600 : old.mode & 0o777 & ~0o007; // never world-readable
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, formatPasswords(users));
    if (old !== undefined && process.getuid?.() === 0) fchownSync(fd, old.uid, old.gid);
    fchmodSync(fd, mode);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(dirname(resolve(file)), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return old === undefined && process.getuid?.() === 0
    ? `note: ${file} is new and readable by root only; if the agent runs as another user (the deployment kit's: brook), let it read the file: chgrp brook ${file} && chmod 640 ${file}\n`
    : undefined;
}

/** The password: typed twice on a terminal, without echo; else standard input's first line. */
async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    let text = "";
    for await (const chunk of process.stdin) text += chunk;
    return text.split("\n")[0]?.replace(/\r$/, "") ?? "";
  }
  const ask = (prompt: string) =>
    new Promise<string>((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
      const out = rl as unknown as { _writeToOutput: (s: string) => void };
      out._writeToOutput = (s: string) => {
        if (s.startsWith(prompt)) process.stdout.write(prompt);
      };
      rl.question(prompt, (answer) => {
        rl.close();
        process.stdout.write("\n");
        resolve(answer);
      });
    });
  const first = await ask("password: ");
  if ((await ask("again: ")) !== first)
    throw new BrookError("BROOK_ERR_USAGE", "passwd: the two passwords differ");
  return first;
}

function checkUser(user: string): void {
  if (!USER_PATTERN.test(user))
    throw new BrookError(
      "BROOK_ERR_USAGE",
      `passwd: a user name is 1–64 letters, digits, "_", ".", "@" or "-" (got "${user}")`,
    );
}

export function register(program: Command): void {
  const passwd = program
    .command("passwd")
    .description("manage the embedded broker's credentials file (scrypt hashes)");
  passwd
    .command("add")
    .description("add a user, or set its password (asked for, or the first line of stdin)")
    .argument("<file>", "the credentials file (edge.embedded.auth.passwords)")
    .argument("<user>", "the user name sensors connect with")
    .action(async (file: string, user: string) => {
      checkUser(user);
      const users = usersOf(file);
      const password = await readPassword();
      if (password.length < 8)
        throw new BrookError("BROOK_ERR_USAGE", "passwd: a password needs at least 8 characters");
      const had = users.has(user);
      users.set(user, hashPassword(password));
      const note = save(file, users);
      process.stdout.write(`${had ? "changed the password of" : "added"} ${user} in ${file}\n`);
      if (note !== undefined) process.stderr.write(note);
    });
  passwd
    .command("remove")
    .description("remove a user")
    .argument("<file>", "the credentials file")
    .argument("<user>", "the user to remove")
    .action((file: string, user: string) => {
      const users = usersOf(file);
      if (!users.delete(user))
        throw new BrookError("BROOK_ERR_USAGE", `passwd: no user ${user} in ${file}`);
      save(file, users);
      process.stdout.write(`removed ${user} from ${file}\n`);
    });
  passwd
    .command("list")
    .description("list the users (never their passwords)")
    .argument("<file>", "the credentials file")
    .action((file: string) => {
      for (const user of usersOf(file).keys()) process.stdout.write(`${user}\n`);
    });
}
