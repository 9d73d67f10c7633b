import * as crypto from "node:crypto";

/** SHA-256 hex of a string; the one-shot `crypto.hash` (Node ≥ 20.12) when there, it is ~2× faster. */
const sha256: (text: string) => string =
  typeof (crypto as { hash?: unknown }).hash === "function"
    ? (text) =>
        (crypto as unknown as { hash(alg: string, data: string, enc: string): string }).hash(
          "sha256",
          text,
          "hex",
        )
    : (text) => crypto.createHash("sha256").update(text).digest("hex");

/**
 * The deterministic id of a window result (ARCHITECTURE.md "Result id"). It names the
 * window — device, rule, key and window start — so a re-emission after a crash or a
 * late correction carries the same id; the revision, sent beside it, orders versions.
 * The sink keeps one row per id, the one with the highest revision.
 */
export function resultId(device: string, rule: string, key: string, windowStart: number): string {
  return idOf(device, rule, key, windowStart);
}

/** A 32-hex-digit id from its parts, joined by NUL (which no part can contain). */
function idOf(...parts: (string | number)[]): string {
  return sha256(parts.join("\u0000")).slice(0, 32);
}

/** The id of a late reading forwarded on the late output: the same reading gives the same id. */
export function lateId(
  device: string,
  rule: string,
  key: string,
  ts: number,
  value: number,
): string {
  return idOf("late", device, rule, key, ts, value);
}

/** The id of an alert: one per rule, key, triggering reading and detector. */
export function alertId(
  device: string,
  rule: string,
  key: string,
  ts: number,
  value: number,
  detector = "zscore",
): string {
  // zscore ids predate the other detectors and keep their form.
  return detector === "zscore"
    ? idOf("alert", device, rule, key, ts, value)
    : idOf("alert", device, rule, key, ts, value, detector);
}
