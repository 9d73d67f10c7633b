/**
 * Golden tests (CONVENTIONS.md 3): each file in golden/ holds a rules file, timed input
 * events, and the exact outputs and counters expected. Times are ms after T0.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { parseDuration } from "../../rules/duration.js";
import { formatProblem } from "../../rules/validate-yaml.js";
import { parseRules } from "../compile/load.js";
import { Engine } from "./engine.js";
import type { EngineOutput } from "./types.js";

const T0 = 1_699_999_200_000; // a whole hour, so windows of any size up to 1 h start at T0
const dir = new URL("./golden/", import.meta.url);

interface GoldenCase {
  options?: { maxFuture?: string; maxStateBytes?: number };
  rules: unknown[];
  events: ({ at: number; sensor: string; ts: number; value: number } | { tick: number })[];
  expect: { outputs: Record<string, unknown>[]; counters: Record<string, number> };
}

/** The comparable part of an output: times relative to T0, floats to 6 decimals. */
export function view(o: EngineOutput): Record<string, unknown> {
  switch (o.kind) {
    case "agg":
      return {
        kind: o.kind,
        key: o.key,
        start: o.start - T0,
        end: o.end - T0,
        revision: o.revision,
        partial: o.partial,
        aggregates: o.aggregates,
      };
    case "late":
      return {
        kind: o.kind,
        key: o.key,
        ts: o.reading.ts - T0,
        value: o.reading.value,
        watermark: o.watermark - T0,
      };
    case "alert":
      return {
        kind: o.kind,
        detector: o.detector,
        revision: o.revision,
        state: o.state,
        key: o.key,
        ts: o.ts - T0,
        value: o.value,
        score: round(o.score),
        anomalyScore: round(o.anomalyScore),
        threshold: o.threshold,
        ...(o.mean === undefined ? {} : { mean: round(o.mean) }),
        ...(o.stddev === undefined ? {} : { stddev: round(o.stddev) }),
        ...(o.since === undefined ? {} : { since: o.since - T0 }),
        ...(o.samples === undefined ? {} : { samples: o.samples }),
        ...(o.parts === undefined ? {} : { parts: o.parts }),
        ...(o.resolvedAt === undefined ? {} : { resolvedAt: o.resolvedAt - T0 }),
        ...(o.reason === undefined ? {} : { reason: o.reason }),
      };
    case "dead":
      return { kind: o.kind, reason: o.reason, ts: o.reading.ts - T0, value: o.reading.value };
  }
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

describe("golden rules", () => {
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()) {
    it(file, () => {
      const golden = parse(readFileSync(new URL(file, dir), "utf8")) as GoldenCase;
      const rules = parseRules(file, stringify({ rules: golden.rules }));
      ok(rules.ok, rules.ok ? "" : rules.problems.map(formatProblem).join("\n"));
      const engine = new Engine({
        device: "golden",
        rules: rules.rules,
        maxFutureMs:
          golden.options?.maxFuture === undefined
            ? undefined
            : parseDuration(golden.options.maxFuture),
        maxStateBytes: golden.options?.maxStateBytes,
      });
      const out: EngineOutput[] = [];
      for (const e of golden.events) {
        if ("tick" in e) engine.tick(T0 + e.tick, out);
        else engine.process({ sensor: e.sensor, ts: T0 + e.ts, value: e.value }, T0 + e.at, out);
      }
      deepStrictEqual(out.map(view), golden.expect.outputs);
      deepStrictEqual({ ...engine.counters }, golden.expect.counters);
    });
  }
});
