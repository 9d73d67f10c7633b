/** `brook outbox stats`: reads the outbox file (safely beside a running agent), prints, exits. */
import { join } from "node:path";
import type { Command } from "commander";
import { SqliteOutbox } from "../../cloud-sync/sqlite-outbox.js";
import { formatDuration } from "../../rules/duration.js";
import { loadConfig } from "../config/load.js";
import { BrookError } from "../errors.js";
import { mustExist } from "./args.js";

/** Reads the outbox read-only, so it is safe beside a running agent (WAL). */
function printOutboxStats(
  file: string,
  json: boolean,
  print = (s: string) => process.stdout.write(`${s}\n`),
): void {
  mustExist(file, "outbox");
  const outbox = new SqliteOutbox(file, { readonly: true });
  const s = outbox.stats(Date.now());
  outbox.close();
  if (json) {
    print(JSON.stringify({ file, ...s }));
    return;
  }
  print(`outbox ${file}`);
  print(`  depth        ${s.depth} results`);
  print(`  bytes        ${s.bytes}`);
  print(
    `  oldest       ${s.depth === 0 ? "-" : `${formatDuration(Math.max(0, Math.round(s.oldestAgeMs / 1000) * 1000))} ago`}`,
  );
  print(
    `  dropped      alert ${s.drops.alert}, aggregate ${s.drops.aggregate}, bulk ${s.drops.bulk}`,
  );
}

export function register(program: Command): void {
  const outbox = program.command("outbox").description("inspect the outbox");
  outbox
    .command("stats")
    .description("print the outbox's depth, bytes, oldest record's age and drops by priority")
    .option("-c, --config <file>", "the agent's config file (its dataDir holds outbox.db)")
    .option("--db <file>", "an outbox.db file")
    .option("--json", "one JSON object")
    .action((opts: { config?: string; db?: string; json?: boolean }) => {
      const file =
        opts.db ??
        (opts.config === undefined
          ? undefined
          : join(loadConfig(opts.config).dataDir, "outbox.db"));
      if (file === undefined)
        throw new BrookError(
          "BROOK_ERR_USAGE",
          "outbox stats: give --config <file> or --db <file>",
        );
      printOutboxStats(file, opts.json === true);
    });
}
