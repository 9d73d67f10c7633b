/**
 * `brook rules check FILE…`: every problem of every file as `FILE:LINE:COL: path: message`;
 * exit 0 when all are valid, 1 when any is invalid, 2 when any cannot be read. With
 * `--explain`, the compiled plan of each rule.
 */

import { formatDuration } from "../rules/duration.js";
import { type CompiledRule, loadRulesFile } from "../rules/load.js";
import { formatProblem } from "../rules/validate-yaml.js";
import { Engine } from "./engine/engine.js";
import type { EngineOutput } from "./engine/types.js";
import { INGEST_TOPIC } from "./ingest/decode.js";

export function checkRulesFiles(
  files: readonly string[],
  explain: boolean,
  print: (line: string) => void,
): number {
  let exit = 0;
  for (const file of files) {
    const loaded = loadRulesFile(file);
    if (!loaded.ok) {
      for (const p of loaded.problems) print(formatProblem(p));
      exit = Math.max(exit, loaded.unreadable ? 2 : 1);
      continue;
    }
    print(`${file}: ok (${loaded.rules.length} rule${loaded.rules.length === 1 ? "" : "s"})`);
    if (explain)
      for (const rule of loaded.rules) for (const line of explainRule(rule)) print(`  ${line}`);
  }
  return exit;
}

function describeWindow(rule: CompiledRule): string {
  const w = rule.window;
  switch (w.type) {
    case "count":
      return `count: the last ${w.n} readings, emitted every ${w.every}`;
    case "session":
      return `session: gap ${formatDuration(w.gapMs)}${w.maxDurationMs === undefined ? "" : `, cut at ${formatDuration(w.maxDurationMs)}`}`;
    case "sliding":
      return `sliding: the last ${formatDuration(w.sizeMs)} on every reading, in ${w.sizeMs / w.paneMs} panes of ${formatDuration(w.paneMs)}`;
    default:
      return `${w.type}: size ${formatDuration(w.sizeMs)}${w.type === "hopping" ? `, hop ${formatDuration(w.hopMs)}` : ""}${w.offsetMs ? `, offset ${formatDuration(w.offsetMs)}` : ""}, panes of ${formatDuration(w.paneMs)}`;
  }
}

export function explainRule(rule: CompiledRule): string[] {
  return [
    `rule ${rule.name}`,
    `  source      MQTT ${INGEST_TOPIC}, JSON {"ts", "value"}; sensor id <device>/<sensor>`,
    `  key         sensor id, where it matches "${rule.sensors}"`,
    `  window      ${describeWindow(rule)}`,
    `  lateness    ${formatDuration(rule.allowedLatenessMs)}; idle after ${formatDuration(rule.idleTimeoutMs)}`,
    `  aggregates  ${rule.aggregates.join(", ")}`,
    `  detectors   ${rule.zscore === undefined ? "none" : `zscore > ${rule.zscore.threshold}σ after ${rule.zscore.minSamples} samples`}`,
    `  outputs     upstream brook/<device>/agg/${rule.name} (priority aggregate)${rule.zscore === undefined ? "" : `, brook/<device>/alert/${rule.name} (priority alert)`}`,
    `  state/key   ~${estimateStateBytes(rule).toLocaleString("en-US")} bytes (accounted, at one reading a second once its windows are full)`,
  ];
}

/** Feeds one key a reading a second for the window's span (at most an hour) and reads the engine's accounting. */
export function estimateStateBytes(rule: CompiledRule): number {
  const engine = new Engine({ device: "explain", rules: [rule] });
  const w = rule.window;
  const span =
    w.type === "count"
      ? w.n * 1_000
      : w.type === "session"
        ? Math.min(w.maxDurationMs ?? 3_600_000, 3_600_000)
        : w.sizeMs + rule.allowedLatenessMs;
  const seconds = Math.min(3_600, Math.max(2, Math.ceil(span / 1_000) + 1));
  const out: EngineOutput[] = [];
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < seconds; i++) {
    engine.process(
      { sensor: "a/b", ts: t0 + i * 1_000, value: 20 + Math.sin(i / 10) },
      t0 + i * 1_000,
      out,
    );
    out.length = 0;
  }
  return engine.stateBytes();
}
