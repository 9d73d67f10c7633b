/**
 * `brook sim --replay FILE.csv`: a `timestamp,value` file (the NAB data files, for
 * instance) as one sensor's stream. Times may be `YYYY-MM-DD HH:MM:SS` (UTC, as NAB
 * writes them), ISO 8601, or epoch seconds or milliseconds.
 */
import { basename, extname } from "node:path";
import { BrookSimError, readInput } from "./errors.js";
import type { Channel } from "./payloads.js";
import { blankReading, type ReadingSource, type SourceReading } from "./stream.js";

export interface ReplayRow {
  ts: number;
  value: number;
}

/** Epoch numbers below this are seconds (it is 1973 in ms, 5138 in s). */
const SECONDS_BELOW = 1e11;

export function parseTimestamp(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) {
    const n = Number(t);
    return Math.round(n < SECONDS_BELOW ? n * 1000 : n);
  }
  // NAB's "2014-04-01 00:00:00" has no zone: a time without one is UTC (never the
  // machine's zone, so a replay is the same everywhere).
  const iso = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(t)
    ? `${t.replace(" ", "T")}Z`
    : t;
  if (!/^\d{4}-\d\d-\d\d/.test(iso)) return undefined;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Rows in file order; every problem is an error naming its line. Times may step back (a
 * NAB file does, by an hour, once): such rows are kept, and sent right after the row
 * before them.
 */
export function parseReplayCsv(file: string, text: string): ReplayRow[] {
  const rows: ReplayRow[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === "" || line.startsWith("#")) return;
    const cells = line.split(",");
    const at = `${file}:${i + 1}`;
    if (rows.length === 0 && i === firstContentLine(lines) && !/\d/.test(cells[0] ?? "")) return; // header
    if (cells.length < 2)
      throw new BrookSimError(
        `${at}: expected "timestamp,value", got ${JSON.stringify(line.slice(0, 60))}`,
      );
    const ts = parseTimestamp(cells[0] as string);
    if (ts === undefined) throw new BrookSimError(`${at}: not a time: ${JSON.stringify(cells[0])}`);
    const valueText = (cells[1] as string).trim();
    const value = valueText === "" ? Number.NaN : Number(valueText);
    if (!Number.isFinite(value))
      throw new BrookSimError(`${at}: not a number: ${JSON.stringify(cells[1])}`);
    rows.push({ ts, value });
  });
  if (rows.length === 0) throw new BrookSimError(`${file}: no readings in it`);
  return rows;
}

function firstContentLine(lines: readonly string[]): number {
  return lines.findIndex((l) => l.trim() !== "" && !l.startsWith("#"));
}

export function readReplayCsv(file: string): ReplayRow[] {
  return parseReplayCsv(file, readInput(file).toString("utf8"));
}

/** The sensor name a replayed file gets unless told: its base name without `.csv`. */
export function replaySensorName(file: string): string {
  return basename(file, extname(file)).replace(/[^A-Za-z0-9_.-]/g, "_");
}

/**
 * The rows as one channel's readings; `startMs` moves them so the first is at it. Each is
 * sent the file's time step after the one before it (none where time steps back).
 */
export class ReplaySource implements ReadingSource {
  readonly channels: Channel[];
  private i = 0;
  private sendAt = 0;
  private readonly shift: number;
  private readonly reading = blankReading();

  constructor(
    private readonly rows: readonly ReplayRow[],
    channel: Channel,
    startMs: number,
    private readonly durationMs: number | undefined,
  ) {
    this.channels = [channel];
    this.shift = startMs - (rows[0] as ReplayRow).ts;
  }

  /** The time of the first reading as replayed. */
  get startMs(): number {
    return (this.rows[0] as ReplayRow).ts + this.shift;
  }

  next(): SourceReading | undefined {
    const row = this.rows[this.i];
    if (row === undefined) return undefined;
    this.sendAt += Math.max(0, row.ts - (this.rows[this.i - 1]?.ts ?? row.ts));
    if (this.durationMs !== undefined && this.sendAt >= this.durationMs) return undefined;
    this.i++;
    this.reading.sendAt = this.sendAt;
    this.reading.ts = row.ts + this.shift;
    this.reading.value = row.value;
    return this.reading;
  }
}
