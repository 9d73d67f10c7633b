/**
 * `brook rules check FILE…`: every problem of every file as `FILE:LINE:COL: path: message`;
 * exit 0 when all are valid, 1 when any is invalid, 2 when any cannot be read. With
 * `--explain`, the compiled plan of each rule.
 */

import { DEFAULT_INGEST_TOPIC } from "../rules/defaults.js";
import { formatDuration } from "../rules/duration.js";
import { formatProblem } from "../rules/validate-yaml.js";
import { loadRulesFile } from "./compile/load.js";
import {
  type CompiledRule,
  type CompiledSource,
  type DetectorPlan,
  RANGE_BLOCKS,
  ZSCORE_PANES,
} from "./compile/plan.js";
import { Engine } from "./engine/engine.js";
import type { EngineOutput } from "./engine/types.js";

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
      for (const rule of loaded.rules)
        for (const line of explainRule(rule, loaded.sources)) print(`  ${line}`);
  }
  return exit;
}

function describeWindow(rule: CompiledRule): string {
  const w = rule.window;
  switch (w.type) {
    case "count":
      return w.n === 1
        ? "count: each reading"
        : `count: the last ${w.n} readings, emitted every ${w.every === 1 ? "reading" : `${w.every} readings`}`;
    case "session":
      return `session: gap ${formatDuration(w.gapMs)}${w.maxDurationMs === undefined ? "" : `, cut at ${formatDuration(w.maxDurationMs)}`}`;
    case "sliding":
      return `sliding: the last ${formatDuration(w.sizeMs)} on every reading, in ${w.sizeMs / w.paneMs} panes of ${formatDuration(w.paneMs)}`;
    default:
      return `${w.type}: size ${formatDuration(w.sizeMs)}${w.type === "hopping" ? `, hop ${formatDuration(w.hopMs)}` : ""}${w.offsetMs ? `, offset ${formatDuration(w.offsetMs)}` : ""}, panes of ${formatDuration(w.paneMs)}`;
  }
}

export function explainRule(rule: CompiledRule, sources: readonly CompiledSource[] = []): string[] {
  const picks = [
    `"${rule.sensors}"`,
    ...Object.entries(rule.tags ?? {}).map(([k, v]) => `tag ${k}=${v}`),
  ];
  if (rule.filter !== undefined) picks.push(`value in [${rule.filter.min}, ${rule.filter.max}]`);
  return [
    `rule ${rule.name}`,
    ...describeSources(rule, sources).map(
      (s, i) => `  ${i === 0 ? "source     " : "           "} ${s}`,
    ),
    `  key         sensor id, where it matches ${picks.join(", ")}`,
    `  window      ${describeWindow(rule)}`,
    `  lateness    ${formatDuration(rule.allowedLatenessMs)}; idle after ${formatDuration(rule.idleTimeoutMs)}`,
    `  aggregates  ${rule.aggregates.length === 0 ? "none (the rule only runs detectors)" : rule.aggregates.join(", ")}`,
    `  detectors   ${describeDetectors(rule)}`,
    `  outputs     ${describeOutputs(rule)}`,
    `  state/key   ~${estimateStateBytes(rule).toLocaleString("en-US")} bytes (accounted, at one reading a second once its windows are full)`,
  ];
}

function describeSources(rule: CompiledRule, sources: readonly CompiledSource[]): string[] {
  if (sources.length === 0)
    return [`MQTT ${DEFAULT_INGEST_TOPIC}, JSON {"ts", "value"}; sensor id <device>/<sensor>`];
  return sources
    .filter((s) => rule.source === undefined || s.name === rule.source)
    .map((s) => {
      const scale =
        s.factor === 1 && s.offset === 0
          ? ""
          : `; value × ${s.factor}${s.offset === 0 ? "" : ` + ${s.offset}`}`;
      const json =
        s.format === "json"
          ? ` {value: ${s.valuePath}, time: ${s.timePath} (${s.timeFormat})${s.sensorPath === undefined ? "" : `, sensor: ${s.sensorPath}`}}`
          : "";
      const sensor = s.sensorPath === undefined ? `; sensor id ${s.sensor}` : "";
      return `${s.name}: MQTT ${s.topic}, ${s.format}${json}${sensor}${scale}`;
    });
}

function describeDetectors(rule: CompiledRule): string {
  const parts = rule.detectors.map((d) => {
    const life =
      d.type === "silence"
        ? ""
        : `; alerts (${d.severity}) stay open at least ${formatDuration(d.cooldownMs)}${d.cooldownReadings > 0 ? ` and ${d.cooldownReadings} readings` : ""}, resolve after ${formatDuration(d.clearAfterMs)} quiet`;
    return `${describeDetector(d)}${life}`;
  });
  return parts.length === 0 ? "none" : parts.join("; ");
}

function describeDetector(d: DetectorPlan): string {
  switch (d.type) {
    case "zscore": {
      const over =
        d.n > 0
          ? `the last ${d.n} readings`
          : `the last ${formatDuration(d.paneMs * ZSCORE_PANES)}`;
      return `zscore: a reading > ${d.threshold}σ from the mean of ${over}, after ${d.minSamples} samples`;
    }
    case "ewma": {
      const halfLife = Math.log(0.5) / Math.log(1 - d.alpha);
      const short =
        d.shortAlpha < 1
          ? `, or the level of the last ~${Math.round(d.shortScale ** 2)} readings`
          : "";
      return `ewma: a reading${short} > ${d.threshold}σ from the mean (half-life ${Math.round(halfLife)} readings) after ${d.minSamples} samples`;
    }
    case "mad":
      return `mad: modified z-score > ${d.threshold} against the median of the last ${d.n} readings, after ${d.minSamples} samples`;
    case "range":
      return `range: a reading beyond the range of the last ${d.blockSize * RANGE_BLOCKS} readings by ${d.margin} of it, or their moving average by ${d.smoothMargin}, after ${d.minSamples} samples`;
    case "flatline": {
      const limits = [
        Number.isFinite(d.durationMs) ? `for ${formatDuration(d.durationMs)}` : "",
        Number.isFinite(d.samples) ? `for ${d.samples} readings` : "",
      ].filter((x) => x !== "");
      return `flatline: spread ≤ ${d.epsilon} ${limits.join(" or ")}`;
    }
    case "threshold": {
      const sides = [
        Number.isFinite(d.high) ? `above ${d.high} (clears at ${d.highClear})` : "",
        Number.isFinite(d.low) ? `below ${d.low} (clears at ${d.lowClear})` : "",
      ].filter((x) => x !== "");
      const hold = d.forMs > 0 ? ` for ${formatDuration(d.forMs)}` : "";
      return `threshold: ${sides.join(" or ")}${hold}`;
    }
    case "rate":
      return `rate: ${d.direction === "both" ? "a change" : d.direction === "rising" ? "a rise" : "a fall"} faster than ${d.limit} per ${formatDuration(d.perMs)}`;
    case "silence":
      return `silence: no reading for ${formatDuration(d.gapMs)}, resolved when readings return`;
    case "composite": {
      const how =
        d.mode === "max"
          ? `max score ≥ ${d.threshold}`
          : d.mode === "k-of-n"
            ? `${d.k} of`
            : d.mode;
      return `composite (${how}) of [${d.parts.map(describeDetector).join("; ")}]`;
    }
  }
}

function describeOutputs(rule: CompiledRule): string {
  const o = rule.outputs;
  const parts: string[] = [];
  if (o.upstream) {
    if (rule.aggregates.length > 0)
      parts.push(`upstream brook/<device>/agg/${rule.name} (priority ${o.priority})`);
    if (rule.detectors.length > 0)
      parts.push(`upstream brook/<device>/alert/${rule.name} (priority alert)`);
  }
  if (o.local !== undefined) parts.push(`local ${o.local}`);
  else if (o.localAlerts !== undefined) parts.push(`alerts local ${o.localAlerts}`);
  return parts.join(", ");
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
  // A reading the rule picks: its sensor glob, tags, value range and source.
  const sensor = rule.sensors.replace(/[*?]/g, "a");
  const lo = Math.max(rule.filter?.min ?? 0, -1e9);
  const hi = Math.min(rule.filter?.max ?? 40, 1e9);
  for (let i = 0; i < seconds; i++) {
    const value = lo + ((hi - lo) * (1 + Math.sin(i / 10))) / 2;
    const reading = { sensor, ts: t0 + i * 1_000, value, tags: rule.tags };
    engine.process(reading, t0 + i * 1_000, out, rule.source);
    out.length = 0;
  }
  return engine.stateBytes();
}
