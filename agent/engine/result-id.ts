import { createHash } from "node:crypto";

/**
 * The deterministic id of a window result (ARCHITECTURE.md "Result id"). It names the
 * window — device, rule, key and window start — so a re-emission after a crash or a
 * late correction carries the same id; the revision, sent beside it, orders versions.
 * The sink keeps one row per id, the one with the highest revision.
 */
export function resultId(device: string, rule: string, key: string, windowStart: number): string {
  return createHash("sha256")
    .update(`${device}\u0000${rule}\u0000${key}\u0000${windowStart}`)
    .digest("hex")
    .slice(0, 32);
}

/** The id of a late reading forwarded on the late output: the same reading gives the same id. */
export function lateId(
  device: string,
  rule: string,
  key: string,
  ts: number,
  value: number,
): string {
  return createHash("sha256")
    .update(`late\u0000${device}\u0000${rule}\u0000${key}\u0000${ts}\u0000${value}`)
    .digest("hex")
    .slice(0, 32);
}

/** The id of an alert: one per rule, key and triggering reading. */
export function alertId(
  device: string,
  rule: string,
  key: string,
  ts: number,
  value: number,
): string {
  return createHash("sha256")
    .update(`alert\u0000${device}\u0000${rule}\u0000${key}\u0000${ts}\u0000${value}`)
    .digest("hex")
    .slice(0, 32);
}
