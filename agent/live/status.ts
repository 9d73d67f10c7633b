/**
 * The agent's status as the live view, `GET /status` and `brook status` show it: one
 * object, and its text for a terminal. Only types and pure functions: `brook status`
 * loads this file and nothing of the agent.
 */

export interface Readiness {
  ready: boolean;
  /** why not, one line each */
  why: string[];
}

export interface StatusReport {
  device: string;
  version: string;
  /** the agent's lifecycle state (starting, ready, reloading, stopping, stopped) */
  state: string;
  ready: Readiness;
  uptimeS: number;
  readings: number;
  readingsPerSec: number;
  openWindows: number;
  stateBytes: number;
  stateBudgetBytes: number;
  alertsOpen: number;
  outbox: {
    depth: number;
    bytes: number;
    oldestAgeS: number;
    /** results dropped by the outbox's quota, by priority */
    drops: Record<string, number>;
  };
  uplink: { state: string; inFlight: number; acknowledged: number };
  /** every named drop counter that is not zero: dead letters by reason, late readings, evictions, refusals, losses */
  drops: Record<string, number>;
  readingLog: { bytes: number; accepting: boolean; held: number } | null;
  rules: {
    names: string[];
    loadedAt: number;
    reloads: { at: number; ok: boolean; problems: string[] }[];
  };
  eventLoopLagMs: { p99: number; max: number };
  /** sensors tracked, and readings of those beyond the live view's limit (not tracked) */
  sensors: { tracked: number; untrackedReadings: number };
}

/** Every counter of `tree` (nested objects of numbers) that is not zero, named by its path. */
export function nonZero(tree: Record<string, unknown>, prefix = ""): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(tree)) {
    const path = prefix === "" ? name : `${prefix}.${name}`;
    if (typeof value === "number") {
      if (value !== 0) out[path] = value;
    } else if (typeof value === "object" && value !== null)
      Object.assign(out, nonZero(value as Record<string, unknown>, path));
  }
  return out;
}

const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

function duration(s: number): string {
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3_600)}h${String(Math.floor((s % 3_600) / 60)).padStart(2, "0")}m`;
}

/** The report as text for a terminal: one fact a line, the drops last. */
export function formatStatus(r: StatusReport, url: string): string {
  const lines = [
    `brook ${r.version} on ${r.device} (${url})`,
    `state        ${r.state}`,
    `ready        ${r.ready.ready ? "yes" : `no: ${r.ready.why.join("; ")}`}`,
    `uptime       ${duration(r.uptimeS)}`,
    `readings/s   ${r.readingsPerSec} (${r.readings} since start)`,
    `sensors      ${r.sensors.tracked}${r.sensors.untrackedReadings > 0 ? ` (and ${r.sensors.untrackedReadings} readings of sensors beyond the live view's limit)` : ""}`,
    `windows      ${r.openWindows} open`,
    `window state ${mb(r.stateBytes)} of ${mb(r.stateBudgetBytes)} (${Math.round((100 * r.stateBytes) / Math.max(1, r.stateBudgetBytes))} %)`,
    `alerts open  ${r.alertsOpen}`,
    `outbox       ${r.outbox.depth} results, ${mb(r.outbox.bytes)}, oldest ${duration(r.outbox.oldestAgeS)}`,
    `uplink       ${r.uplink.state} (${r.uplink.inFlight} in flight, ${r.uplink.acknowledged} acknowledged since start)`,
    ...(r.readingLog === null
      ? []
      : [
          `reading log  ${mb(r.readingLog.bytes)}${r.readingLog.accepting ? "" : `, NOT ACCEPTING (${r.readingLog.held} messages held)`}`,
        ]),
    `rules        ${r.rules.names.join(", ") || "(none)"}${r.rules.reloads[0] === undefined ? "" : ` (last reload ${r.rules.reloads[0].ok ? "applied" : `rejected: ${r.rules.reloads[0].problems[0] ?? ""}`})`}`,
    `loop lag     p99 ${r.eventLoopLagMs.p99.toFixed(1)} ms, max ${r.eventLoopLagMs.max.toFixed(1)} ms`,
  ];
  const drops = Object.entries({
    ...r.drops,
    ...Object.fromEntries(
      Object.entries(r.outbox.drops)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => [`outbox_quota.${k}`, n]),
    ),
  });
  lines.push(
    drops.length === 0
      ? "drops        none"
      : `drops        ${drops.map(([name, n]) => `${name} ${n}`).join(", ")}`,
  );
  return `${lines.join("\n")}\n`;
}
