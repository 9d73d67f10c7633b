/** Durations as users write them in rules and on the command line: `500ms`, `30s`, `5m`, `1h`, `1d`. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const DURATION_PATTERN = "^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$";
const DURATION_RE = new RegExp(DURATION_PATTERN);

/** Returns milliseconds, or undefined when `text` is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (m === null) return undefined;
  const unit = m[2] as string;
  return Math.round(Number.parseFloat(text) * (UNIT_MS[unit] as number));
}

/** A duration the checker has already validated, in ms; `fallback` where it is absent. */
export function msOr(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : (parseDuration(text) as number);
}

export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"]) {
    const size = UNIT_MS[unit] as number;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Byte sizes as users write them: `65536`, `512KB`, `64MB`, `64MiB`, `1GB` (KB = 1000, KiB = 1024). */
const SIZE_UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KIB: 1024,
  MIB: 1024 ** 2,
  GIB: 1024 ** 3,
};
export const BYTE_SIZE_PATTERN = "^[0-9]+(\\.[0-9]+)?\\s*([KMG]i?B|B)?$";

export function parseByteSize(text: string | number): number | undefined {
  if (typeof text === "number")
    return Number.isFinite(text) && text >= 0 ? Math.floor(text) : undefined;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([KMG]i?B|B)?$/i.exec(text.trim());
  if (m === null) return undefined;
  return Math.floor(Number(m[1]) * (SIZE_UNITS[(m[2] ?? "").toUpperCase()] as number));
}
