/**
 * The files `brook sim score` reads: the ground truth `brook sim` wrote, and alerts as
 * JSON lines — what `mosquitto_sub -t 'brook/+/alert/#'` prints (with `-v`, the topic
 * before each payload is skipped), what `brook sim --alerts-out` writes. Lines that are
 * results of another kind (aggregates) are passed over; a line that is not JSON is an
 * error naming its line, except in the alerts file, where it is counted and reported.
 */
import { BrookSimError, readInput } from "./errors.js";
import type { AlertLine } from "./score.js";
import type { TruthRecord } from "./stream.js";

function readLines(file: string): string[] {
  return readInput(file).toString("utf8").split("\n");
}

export function readTruthFile(file: string): TruthRecord[] {
  const out: TruthRecord[] = [];
  readLines(file).forEach((line, i) => {
    if (line.trim() === "") return;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new BrookSimError(`${file}:${i + 1}: not a JSON line`);
    }
    const ok =
      (record.kind === "sensor" && typeof record.key === "string") ||
      (record.kind === "fault" && typeof record.type === "string") ||
      (record.kind === "anomaly" &&
        typeof record.key === "string" &&
        typeof record.start === "number" &&
        typeof record.end === "number");
    if (!ok)
      throw new BrookSimError(
        `${file}:${i + 1}: not a ground-truth record (kind sensor, anomaly or fault; an anomaly needs type, key, start and end)`,
      );
    out.push(record as TruthRecord);
  });
  return out;
}

export interface AlertsRead {
  alerts: AlertLine[];
  /** lines that were not JSON */
  unreadable: number;
  /** results of other kinds, passed over */
  other: number;
}

export function readAlertsFile(file: string): AlertsRead {
  const read: AlertsRead = { alerts: [], unreadable: 0, other: 0 };
  for (const line of readLines(file)) {
    if (line.trim() === "") continue;
    const brace = line.indexOf("{");
    let result: Record<string, unknown>;
    try {
      result = JSON.parse(brace < 0 ? line : line.slice(brace)) as Record<string, unknown>;
    } catch {
      read.unreadable++;
      continue;
    }
    if (
      result.kind !== "alert" ||
      typeof result.id !== "string" ||
      typeof result.key !== "string" ||
      typeof result.ts !== "number"
    ) {
      read.other++;
      continue;
    }
    read.alerts.push({
      id: result.id,
      key: result.key,
      ts: result.ts,
      rule: typeof result.rule === "string" ? result.rule : undefined,
    });
  }
  return read;
}
