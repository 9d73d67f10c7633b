/** Parsers for the command line's values: each a clear usage error when a value will not do. */
import { existsSync } from "node:fs";
import { InvalidArgumentError, Option } from "commander";
import { parseDuration } from "../../rules/duration.js";
import { BrookError } from "../errors.js";

export function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new InvalidArgumentError('expected a duration such as "10s", "5m" or "500ms"');
  return ms;
}

export function portArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("expected a port number 0–65535");
  return n;
}

export function intArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

export function toleranceOption(): Option {
  return new Option(
    "--tolerance <duration>",
    "scoring: how late after an anomaly's end an alert still counts",
  )
    .argParser(durationArg)
    .default(60_000, "1m");
}

/** A file the user named for reading must be there. */
export function mustExist(file: string, what: string): void {
  if (!existsSync(file)) throw new BrookError("BROOK_ERR_USAGE", `${what} not found: ${file}`);
}
