/** `brook outbox stats` and `brook cloud-sink --stats`: read the files, print, exit. */
import { existsSync } from "node:fs";
import { SinkStore } from "../../cloud-sync/sink-store.js";
import { SqliteOutbox } from "../../cloud-sync/sqlite-outbox.js";
import { formatDuration } from "../../rules/duration.js";
import { BrookError } from "../errors.js";

function mustExist(file: string, what: string): void {
  if (!existsSync(file)) throw new BrookError("BROOK_ERR_USAGE", `${what} not found: ${file}`);
}

/** Reads the outbox read-only, so it is safe beside a running agent (WAL). */
export function printOutboxStats(
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

export function printSinkStats(
  file: string,
  print = (s: string) => process.stdout.write(`${s}\n`),
): void {
  mustExist(file, "cloud sink database");
  const store = new SinkStore(file);
  const s = store.stats();
  store.close();
  print(JSON.stringify({ file, ...s }));
}
