/** `brook selftest`: the whole slice in-process, with versions and arch (agent/selftest.ts). */
import type { Command } from "commander";
import { runSelftest } from "../selftest.js";

export function register(program: Command): void {
  program
    .command("selftest")
    .description(
      "in-process smoke test: broker, SQLite, a window, an outbox round trip; prints versions and arch",
    )
    .action(async () => {
      const ok = await runSelftest((line) => process.stdout.write(`${line}\n`));
      process.exitCode = ok ? 0 : 1;
    });
}
