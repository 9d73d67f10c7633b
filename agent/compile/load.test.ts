import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { formatProblem } from "../../rules/validate-yaml.js";
import { parseRules } from "./load.js";

const problemsOf = (text: string) => {
  const result = parseRules("rules.yaml", text);
  return result.ok ? [] : result.problems.map(formatProblem);
};

const compiled = (text: string) => {
  const result = parseRules("rules.yaml", text);
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join("\n"));
  return result.rules;
};

describe("rules file", () => {
  it("compiles sources, and rules that pick a source, tags and a value range", () => {
    const result = parseRules(
      "rules.yaml",
      [
        "sources:",
        '  - { name: plant, topic: factory/+/telemetry, sensor: "{1}", fields: { value: data.t, tags: { line: meta.line } }, time: iso8601, scale: { factor: 0.1 } }',
        "  - { name: gw, topic: influx/#, format: influx }",
        "rules:",
        "  - { name: a, source: plant, tags: { line: A }, filter: { min: -40, max: 150 } }",
        "",
      ].join("\n"),
    );
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join("\n"));
    deepStrictEqual(result.sources[0], {
      name: "plant",
      topic: "factory/+/telemetry",
      format: "json",
      sensor: "{1}",
      valuePath: "data.t",
      timePath: "ts",
      sensorPath: undefined,
      tagPaths: { line: "meta.line" },
      timeFormat: "iso8601",
      factor: 0.1,
      offset: 0,
    });
    deepStrictEqual(result.sources[1]?.format, "influx");
    deepStrictEqual(
      [result.rules[0]?.source, result.rules[0]?.tags, result.rules[0]?.filter],
      ["plant", { line: "A" }, { min: -40, max: 150 }],
    );
  });

  it("checks topic filters, source names and references", () => {
    deepStrictEqual(
      problemsOf(
        [
          "sources:",
          "  - { name: s, topic: a/#/b }",
          "  - { name: s, topic: a/b+ }",
          "rules:",
          "  - { name: r, source: nope, filter: { min: 5, max: 1 } }",
          "",
        ].join("\n"),
      ),
      [
        "rules.yaml:2:23: sources.0.topic: '#' must be a whole level, and the last",
        'rules.yaml:3:13: sources.1.name: duplicate source name "s"',
        "rules.yaml:3:23: sources.1.topic: '+' must be a whole level",
        'rules.yaml:5:24: rules.0.source: no source "nope" (sources: s)',
        "rules.yaml:5:53: rules.0.filter.max: must be at least filter.min",
      ],
    );
  });

  it("compiles a rule with every default", () => {
    deepStrictEqual(compiled("rules:\n  - name: m\n"), [
      {
        name: "m",
        sensors: "*",
        window: { type: "tumbling", sizeMs: 60_000, hopMs: 60_000, paneMs: 60_000, offsetMs: 0 },
        allowedLatenessMs: 0,
        idleTimeoutMs: 60_000,
        aggregates: ["count", "mean", "min", "max"],
        detectors: [],
        outputs: {
          local: undefined,
          localAlerts: undefined,
          upstream: true,
          priority: "aggregate",
        },
        source: undefined,
        tags: undefined,
        filter: undefined,
      },
    ]);
  });

  it("compiles every window type, with panes of gcd(size, hop) and sliding panes of size/60", () => {
    const rules = compiled(
      [
        "rules:",
        "  - { name: t, window: { type: tumbling, size: 15m, offset: 1m }, allowedLateness: 30s, aggregates: [max, p99.9] }",
        "  - { name: h, window: { type: hopping, size: 10m, hop: 4m } }",
        "  - { name: s, window: { type: sliding, size: 5m } }",
        "  - { name: c, window: { type: count, n: 60 }, detectors: [{ type: zscore }] }",
        "  - { name: x, window: { type: session, gap: 30s, maxDuration: 1h }, idleTimeout: 10m }",
        "",
      ].join("\n"),
    );
    deepStrictEqual(
      rules.map((r) => [r.name, r.window, r.allowedLatenessMs, r.idleTimeoutMs]),
      [
        [
          "t",
          { type: "tumbling", sizeMs: 900_000, hopMs: 900_000, paneMs: 900_000, offsetMs: 60_000 },
          30_000,
          930_000,
        ],
        [
          "h",
          { type: "hopping", sizeMs: 600_000, hopMs: 240_000, paneMs: 120_000, offsetMs: 0 },
          0,
          600_000,
        ],
        [
          "s",
          { type: "sliding", sizeMs: 300_000, hopMs: 5_000, paneMs: 5_000, offsetMs: 0 },
          0,
          300_000,
        ],
        ["c", { type: "count", n: 60, every: 1 }, 0, 300_000],
        ["x", { type: "session", gapMs: 30_000, maxDurationMs: 3_600_000 }, 0, 600_000],
      ],
    );
    deepStrictEqual(rules[0]?.aggregates, ["max", "p99.9"]);
    deepStrictEqual(rules[3]?.detectors, [
      {
        type: "zscore",
        threshold: 3,
        minSamples: 10,
        n: 60,
        paneMs: 0,
        cooldownMs: 0,
        cooldownReadings: 0,
        clearAfterMs: 0,
        severity: "warning",
      },
    ]);
  });

  it("reports every error with its position, one message per field", () => {
    deepStrictEqual(
      problemsOf(
        [
          "rules:",
          "  - name: a",
          "    window: {type: tumbling, size: 10 minutes}",
          "  - name: b",
          "    aggregates: [median]",
          "  - name: c",
          "    window: {type: tumblin, size: 1m}",
          "  - name: d",
          "    window: {type: hopping, size: 1m}",
          "",
        ].join("\n"),
      ),
      [
        'rules.yaml:3:36: rules.0.window.size: must be a duration such as "500ms", "30s", "5m" or "1h"',
        'rules.yaml:5:18: rules.1.aggregates.0: must be one of "count", "sum", "mean", "min", "max", "variance", "stddev", "first", "last", "rate", or a quantile such as p50, p95 or p99.9 (did you mean "p50"?)',
        'rules.yaml:7:20: rules.2.window.type: must be one of "tumbling", "hopping", "sliding", "count", "session" (did you mean "tumbling"?)',
        'rules.yaml:9:13: rules.3.window: missing required field "hop"',
      ],
    );
  });

  it("reads JSON files too (JSON is YAML), with positions", () => {
    const json = JSON.stringify(
      { rules: [{ name: "j", window: { type: "count", n: 5 }, aggregates: ["mean"] }] },
      null,
      2,
    );
    deepStrictEqual(compiled(json)[0]?.window, { type: "count", n: 5, every: 1 });
    deepStrictEqual(problemsOf(json.replace('"n": 5', '"n": "5"')), [
      "rules.yaml:7:14: rules.0.window.n: must be integer",
    ]);
  });

  it("checks facts across fields", () => {
    deepStrictEqual(
      problemsOf(
        [
          "rules:",
          "  - name: a",
          "  - name: a",
          "    window: {type: tumbling, size: 0s}",
          "  - { name: h, window: { type: hopping, size: 1m, hop: 2m } }",
          "  - { name: s, window: { type: sliding, size: 1m, resolution: 7s } }",
          "  - { name: o, window: { type: tumbling, size: 1m, offset: 1m } }",
          "  - { name: z, window: { type: tumbling }, detectors: [{ type: zscore, n: 20, over: 1m }] }",
          "  - { name: x, window: { type: session, gap: 1m, maxDuration: 30s } }",
          "",
        ].join("\n"),
      ),
      [
        'rules.yaml:3:11: rules.1.name: duplicate rule name "a"',
        "rules.yaml:4:36: rules.1.window.size: must be longer than 0",
        "rules.yaml:5:56: rules.2.window.hop: must be at most the size (1m)",
        "rules.yaml:6:63: rules.3.window.resolution: must divide the size (1m) evenly",
        "rules.yaml:7:60: rules.4.window.offset: must be shorter than the window's hop (or size)",
        "rules.yaml:8:85: rules.5.detectors.0.over: set either n (readings) or over (a duration), not both",
        "rules.yaml:9:63: rules.6.window.maxDuration: must be at least the gap",
      ],
    );
  });
});
