/**
 * A table of broken rules files: each must be refused with exactly these problems, each at
 * its line and column, in the words `brook rules check` prints. Every problem of a file
 * is reported, not just the first.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRulesSpec } from "./load.js";
import { formatProblem } from "./validate-yaml.js";

/** [what is wrong, the file's lines, the problems] */
const CASES: [string, string[], string[]][] = [
  [
    "not YAML",
    ["rules: ["],
    [
      "rules.yaml:2:1: (document): Flow sequence in block collection must be sufficiently indented and end with a ]",
    ],
  ],
  [
    "a key twice",
    ["rules:", "  - name: a", "    name: b"],
    ["rules.yaml:3:5: (document): Map keys must be unique"],
  ],
  [
    "an empty file",
    [""],
    ["rules.yaml:1:1: (document): the file is empty: it needs a `rules:` list"],
  ],
  [
    "a misspelt top-level key",
    ["rule:", "  - name: a"],
    [
      'rules.yaml:1:1: (document): missing required field "rules"',
      'rules.yaml:1:1: rule: unknown field (did you mean "rules"?)',
    ],
  ],
  ["rules not a list", ["rules: { name: a }"], ["rules.yaml:1:8: rules: must be array"]],
  ["no rules", ["rules: []"], ["rules.yaml:1:8: rules: must not be empty"]],
  [
    "a rule without a name",
    ["rules:", "  - window: { type: tumbling }"],
    ['rules.yaml:2:5: rules.0: missing required field "name"'],
  ],
  [
    "a name that cannot be a topic level",
    ["rules:", "  - name: pump temp/1"],
    [
      "rules.yaml:2:11: rules.0.name: must be letters, digits, '_', '.' or '-' (it becomes an MQTT topic level)",
    ],
  ],
  [
    "a misspelt rule key",
    ["rules:", "  - name: a", "    windw: { type: tumbling }"],
    ['rules.yaml:3:5: rules.0.windw: unknown field (did you mean "window"?)'],
  ],
  [
    "a misspelt window type",
    ["rules:", "  - name: a", "    window: { type: tumbeling, size: 1m }"],
    [
      'rules.yaml:3:21: rules.0.window.type: must be one of "tumbling", "hopping", "sliding", "count", "session" (did you mean "tumbling"?)',
    ],
  ],
  [
    "a window without a type",
    ["rules:", "  - name: a", "    window: { size: 1m }"],
    ['rules.yaml:3:13: rules.0.window: missing required field "type"'],
  ],
  [
    "a duration in words",
    ["rules:", "  - name: a", "    window: { type: tumbling, size: 5 minutes }"],
    [
      'rules.yaml:3:37: rules.0.window.size: must be a duration such as "500ms", "30s", "5m" or "1h"',
    ],
  ],
  [
    "a zero window",
    ["rules:", "  - name: a", "    window: { type: tumbling, size: 0s }"],
    ["rules.yaml:3:37: rules.0.window.size: must be longer than 0"],
  ],
  [
    "a hopping window without a hop",
    ["rules:", "  - name: a", "    window: { type: hopping, size: 1m }"],
    ['rules.yaml:3:13: rules.0.window: missing required field "hop"'],
  ],
  [
    "a hop longer than the window",
    ["rules:", "  - name: a", "    window: { type: hopping, size: 1m, hop: 2m }"],
    ["rules.yaml:3:45: rules.0.window.hop: must be at most the size (1m)"],
  ],
  [
    "a sliding resolution that does not divide",
    ["rules:", "  - name: a", "    window: { type: sliding, size: 1m, resolution: 7s }"],
    ["rules.yaml:3:52: rules.0.window.resolution: must divide the size (1m) evenly"],
  ],
  [
    "an offset as long as the window",
    ["rules:", "  - name: a", "    window: { type: tumbling, size: 1m, offset: 1m }"],
    ["rules.yaml:3:49: rules.0.window.offset: must be shorter than the window's hop (or size)"],
  ],
  [
    "a count window of 0",
    ["rules:", "  - name: a", "    window: { type: count, n: 0 }"],
    ["rules.yaml:3:31: rules.0.window.n: must be >= 1"],
  ],
  [
    "a count window of 2.5",
    ["rules:", "  - name: a", "    window: { type: count, n: 2.5 }"],
    ["rules.yaml:3:31: rules.0.window.n: must be integer"],
  ],
  [
    "a session gap of 0",
    ["rules:", "  - name: a", "    window: { type: session, gap: 0s }"],
    ["rules.yaml:3:35: rules.0.window.gap: must be longer than 0"],
  ],
  [
    "a session cut shorter than its gap",
    ["rules:", "  - name: a", "    window: { type: session, gap: 5m, maxDuration: 1m }"],
    ["rules.yaml:3:52: rules.0.window.maxDuration: must be at least the gap"],
  ],
  [
    "a session with a size",
    ["rules:", "  - name: a", "    window: { type: session, gap: 5m, size: 1h }"],
    ["rules.yaml:3:39: rules.0.window.size: unknown field"],
  ],
  [
    "an aggregate by another name",
    ["rules:", "  - name: a", "    aggregates: [count, avg]"],
    [
      'rules.yaml:3:25: rules.0.aggregates.1: must be one of "count", "sum", "mean", "min", "max", "variance", "stddev", "first", "last", "rate", or a quantile such as p50, p95 or p99.9 (did you mean "mean"?)',
    ],
  ],
  [
    "a quantile above 100",
    ["rules:", "  - name: a", "    aggregates: [p101]"],
    [
      'rules.yaml:3:18: rules.0.aggregates.0: must be one of "count", "sum", "mean", "min", "max", "variance", "stddev", "first", "last", "rate", or a quantile such as p50, p95 or p99.9',
    ],
  ],
  [
    "an aggregate twice",
    ["rules:", "  - name: a", "    aggregates: [max, min, max]"],
    ['rules.yaml:3:28: rules.0.aggregates.2: "max" is listed twice'],
  ],
  [
    "no aggregates and no detectors",
    ["rules:", "  - name: a", "    aggregates: []"],
    [
      "rules.yaml:3:17: rules.0.aggregates: a rule with no aggregates needs a detector, or it reports nothing",
    ],
  ],
  [
    "a misspelt detector",
    [
      "rules:",
      "  - name: a",
      "    window: { type: count, n: 10 }",
      "    detectors: [{ type: zscor }]",
    ],
    [
      'rules.yaml:4:25: rules.0.detectors.0.type: must be one of "zscore", "flatline", "ewma", "mad", "range", "threshold", "rate", "silence", "composite" (did you mean "zscore"?)',
    ],
  ],
  [
    "a z-score over both readings and time",
    [
      "rules:",
      "  - name: a",
      "    window: { type: tumbling, size: 1m }",
      "    detectors:",
      "      - { type: zscore, n: 100, over: 10m }",
    ],
    [
      "rules.yaml:5:39: rules.0.detectors.0.over: set either n (readings) or over (a duration), not both",
    ],
  ],
  [
    "a z-score on a count window too small for it",
    [
      "rules:",
      "  - name: a",
      "    window: { type: count, n: 5 }",
      "    detectors: [{ type: zscore }]",
    ],
    [
      "rules.yaml:4:17: rules.0.detectors.0: zscore reads the rule's count window of 5 readings, fewer than minSamples (10), so it would never judge one: set n",
    ],
  ],
  [
    "threshold clear bands that overlap",
    [
      "rules:",
      "  - name: a",
      "    detectors:",
      "      - { type: threshold, high: 80, highClear: 30, low: 20, lowClear: 50 }",
    ],
    [
      "rules.yaml:4:72: rules.0.detectors.0.lowClear: must be below the high side's clear level (30), or an open alert could never clear",
    ],
  ],
  [
    "a mad window smaller than its minSamples",
    ["rules:", "  - name: a", "    detectors:", "      - { type: mad, n: 5 }"],
    [
      "rules.yaml:4:9: rules.0.detectors.0.minSamples: must be at most n (5), or the detector would never judge a reading",
    ],
  ],
  [
    "a silence longer than the idle timeout",
    [
      "rules:",
      "  - name: a",
      "    idleTimeout: 5m",
      "    detectors:",
      "      - { type: silence, gap: 10m }",
    ],
    [
      "rules.yaml:5:31: rules.0.detectors.0.gap: must be shorter than the rule's idleTimeout (5m): the key would be forgotten before its silence is noticed",
    ],
  ],
  [
    "a threshold with no level",
    ["rules:", "  - name: a", "    detectors:", "      - { type: threshold, for: 30s }"],
    ["rules.yaml:4:9: rules.0.detectors.0: threshold needs high, low, or both"],
  ],
  [
    "threshold levels the wrong way round",
    [
      "rules:",
      "  - name: a",
      "    detectors:",
      "      - { type: threshold, high: 10, highClear: 12, low: 20, lowClear: 15 }",
    ],
    [
      "rules.yaml:4:49: rules.0.detectors.0.highClear: must be at most high (10)",
      "rules.yaml:4:58: rules.0.detectors.0.low: must be below high (10)",
      "rules.yaml:4:72: rules.0.detectors.0.lowClear: must be at least low (20)",
      "rules.yaml:4:72: rules.0.detectors.0.lowClear: must be below the high side's clear level (12), or an open alert could never clear",
    ],
  ],
  [
    "a clear level without its level",
    [
      "rules:",
      "  - name: a",
      "    detectors:",
      "      - { type: threshold, high: 80, lowClear: 5 }",
    ],
    ["rules.yaml:4:48: rules.0.detectors.0.lowClear: lowClear needs low"],
  ],
  [
    "a rate without a limit, per nothing",
    ["rules:", "  - name: a", "    detectors:", "      - { type: rate, per: 0s, direction: up }"],
    [
      'rules.yaml:4:9: rules.0.detectors.0: missing required field "limit"',
      'rules.yaml:4:43: rules.0.detectors.0.direction: must be one of "both", "rising", "falling"',
    ],
  ],
  [
    "a silence of no gap",
    ["rules:", "  - name: a", "    detectors:", "      - { type: silence, gap: 0s, cooldown: 1m }"],
    ["rules.yaml:4:35: rules.0.detectors.0.cooldown: unknown field"],
  ],
  [
    "a mad window of two readings",
    ["rules:", "  - name: a", "    detectors:", "      - { type: mad, n: 2, threshold: 0 }"],
    [
      "rules.yaml:4:25: rules.0.detectors.0.n: must be >= 3",
      "rules.yaml:4:39: rules.0.detectors.0.threshold: must be > 0",
    ],
  ],
  [
    "a range margin of zero",
    ["rules:", "  - name: a", "    detectors:", "      - { type: range, margin: 0, n: 10 }"],
    [
      "rules.yaml:4:32: rules.0.detectors.0.margin: must be > 0",
      "rules.yaml:4:38: rules.0.detectors.0.n: must be >= 20",
    ],
  ],
  [
    "a k-of-n composite without k",
    [
      "rules:",
      "  - name: a",
      "    detectors:",
      "      - type: composite",
      "        mode: k-of-n",
      "        detectors: [{ type: ewma }, { type: range }]",
    ],
    ["rules.yaml:4:9: rules.0.detectors.0.k: mode k-of-n needs k"],
  ],
  [
    "a composite asking for more than it has",
    [
      "rules:",
      "  - name: a",
      "    detectors:",
      "      - { type: composite, mode: k-of-n, k: 3, detectors: [{ type: ewma }, { type: range }] }",
    ],
    ["rules.yaml:4:45: rules.0.detectors.0.k: must be at most the number of detectors (2)"],
  ],
  [
    "a composite's part with its own lifecycle",
    [
      "rules:",
      "  - name: a",
      "    detectors:",
      "      - type: composite",
      "        threshold: 0.7",
      "        detectors:",
      "          - { type: ewma, cooldown: 1h }",
      "          - { type: flatline, epsilon: 0 }",
    ],
    [
      "rules.yaml:5:20: rules.0.detectors.0.threshold: threshold is for mode max (this composite's mode is any)",
      "rules.yaml:7:37: rules.0.detectors.0.detectors.0.cooldown: a composite's detectors have no lifecycle of their own: set it on the composite",
      "rules.yaml:8:13: rules.0.detectors.0.detectors.1: flatline needs a duration, samples, or both",
    ],
  ],
  [
    "a composite of one, with silence inside",
    [
      "rules:",
      "  - name: a",
      "    detectors:",
      "      - { type: composite, detectors: [{ type: silence, gap: 1m }] }",
    ],
    [
      "rules.yaml:4:39: rules.0.detectors.0.detectors: must have at least 2 items",
      'rules.yaml:4:48: rules.0.detectors.0.detectors.0.type: must be one of "zscore", "flatline", "ewma", "mad", "range", "threshold", "rate"',
    ],
  ],
  [
    "a z-score threshold of 0",
    [
      "rules:",
      "  - name: a",
      "    window: { type: count, n: 10 }",
      "    detectors: [{ type: zscore, threshold: 0 }]",
    ],
    ["rules.yaml:4:44: rules.0.detectors.0.threshold: must be > 0"],
  ],
  [
    "a flatline without a span",
    ["rules:", "  - name: a", "    detectors:", "      - { type: flatline, epsilon: 0.1 }"],
    ["rules.yaml:4:9: rules.0.detectors.0: flatline needs a duration, samples, or both"],
  ],
  [
    "a negative flatline epsilon",
    [
      "rules:",
      "  - name: a",
      "    detectors:",
      "      - { type: flatline, epsilon: -1, samples: 5 }",
    ],
    ["rules.yaml:4:36: rules.0.detectors.0.epsilon: must be >= 0"],
  ],
  [
    "two flatline detectors",
    [
      "rules:",
      "  - name: a",
      "    detectors:",
      "      - { type: flatline, samples: 5 }",
      "      - { type: flatline, duration: 1h }",
    ],
    ["rules.yaml:5:17: rules.0.detectors.1.type: a second flatline detector"],
  ],
  [
    "a negative lateness",
    ["rules:", "  - name: a", "    allowedLateness: -5s"],
    [
      'rules.yaml:3:22: rules.0.allowedLateness: must be a duration such as "500ms", "30s", "5m" or "1h"',
    ],
  ],
  [
    "an idle timeout in words",
    ["rules:", "  - name: a", "    idleTimeout: soon"],
    [
      'rules.yaml:3:18: rules.0.idleTimeout: must be a duration such as "500ms", "30s", "5m" or "1h"',
    ],
  ],
  [
    "two rules of one name",
    ["rules:", "  - name: a", "  - name: b", "  - name: a"],
    ['rules.yaml:4:11: rules.2.name: duplicate rule name "a"'],
  ],
  [
    "a source in a file without sources",
    ["rules:", "  - name: a", "    source: pumps"],
    ['rules.yaml:3:13: rules.0.source: no source "pumps": the file defines no sources'],
  ],
  [
    "an unknown source",
    [
      "sources:",
      "  - { name: pumps, topic: factory/# }",
      "rules:",
      "  - { name: a, source: pump }",
    ],
    ['rules.yaml:4:24: rules.0.source: no source "pump" (sources: pumps)'],
  ],
  [
    "'#' before the last level",
    ["sources:", "  - { name: s, topic: factory/#/temp }", "rules:", "  - name: a"],
    ["rules.yaml:2:23: sources.0.topic: '#' must be a whole level, and the last"],
  ],
  [
    "'+' inside a level",
    ["sources:", "  - { name: s, topic: factory/pump+/temp }", "rules:", "  - name: a"],
    ["rules.yaml:2:23: sources.0.topic: '+' must be a whole level"],
  ],
  [
    "two sources of one name",
    [
      "sources:",
      "  - { name: s, topic: a/+ }",
      "  - { name: s, topic: b/+ }",
      "rules:",
      "  - name: a",
    ],
    ['rules.yaml:3:13: sources.1.name: duplicate source name "s"'],
  ],
  [
    "an unknown format",
    ["sources:", "  - { name: s, topic: a/+, format: csv }", "rules:", "  - name: a"],
    ['rules.yaml:2:36: sources.0.format: must be one of "json", "senml", "number", "influx"'],
  ],
  [
    "a misspelt time format",
    ["sources:", "  - { name: s, topic: a/+, time: iso }", "rules:", "  - name: a"],
    ['rules.yaml:2:34: sources.0.time: must be one of "ms", "s", "iso8601" (did you mean "ms"?)'],
  ],
  [
    "an influx placeholder in a json source",
    ["sources:", '  - { name: s, topic: a/+, sensor: "{1}/{field}" }', "rules:", "  - name: a"],
    [
      "rules.yaml:2:36: sources.0.sensor: unknown placeholder {field} for format json (use {topic}, {0}, {1}, …)",
    ],
  ],
  [
    "a sensor from the topic and from the payload",
    [
      "sources:",
      '  - { name: s, topic: a/+, sensor: "{1}", fields: { sensor: id } }',
      "rules:",
      "  - name: a",
    ],
    [
      "rules.yaml:2:36: sources.0.sensor: set either sensor (from the topic) or fields.sensor (from the payload), not both",
    ],
  ],
  [
    "a filter whose min is above its max",
    ["rules:", "  - name: a", "    filter: { min: 10, max: 0 }"],
    ["rules.yaml:3:29: rules.0.filter.max: must be at least filter.min"],
  ],
  [
    "results that go nowhere",
    ["rules:", "  - name: a", "    outputs: { upstream: false }"],
    [
      "rules.yaml:3:26: rules.0.outputs.upstream: the rule's results would go nowhere: set outputs.local, or keep upstream",
    ],
  ],
  [
    "a wildcard in an output topic",
    ["rules:", "  - name: a", '    outputs: { local: "out/+/{key}" }'],
    [
      "rules.yaml:3:23: rules.0.outputs.local: a topic to publish on cannot hold the wildcards '+' or '#'",
    ],
  ],
  [
    "an unknown output placeholder",
    ["rules:", "  - name: a", '    outputs: { local: "out/{sensor}" }'],
    [
      "rules.yaml:3:23: rules.0.outputs.local: unknown placeholder {sensor} (use {device}, {rule}, {key}, {kind})",
    ],
  ],
  [
    "an output topic that feeds back",
    [
      "sources:",
      "  - { name: s, topic: plant/# }",
      "rules:",
      "  - name: a",
      '    outputs: { local: "plant/summary/{key}" }',
    ],
    [
      "rules.yaml:5:23: rules.0.outputs.local: results would feed back into source s (plant/#); choose a topic outside it",
    ],
  ],
  [
    "an unknown priority",
    ["rules:", "  - name: a", "    outputs: { priority: high }"],
    [
      'rules.yaml:3:26: rules.0.outputs.priority: must be one of "bulk", "aggregate", "alert" (did you mean "alert"?)',
    ],
  ],
  [
    "a tag value that is not text",
    ["rules:", "  - name: a", "    tags: { line: [1, 2] }"],
    ["rules.yaml:3:19: rules.0.tags.line: must be string"],
  ],
  [
    "a format named like an object property",
    [
      "sources:",
      '  - { name: s, topic: a/+, format: constructor, sensor: "{x}" }',
      "rules:",
      "  - name: a",
    ],
    ['rules.yaml:2:36: sources.0.format: must be one of "json", "senml", "number", "influx"'],
  ],
  [
    "an aggregate named like an object property",
    ["rules:", "  - name: a", "    aggregates: [constructor]"],
    [
      'rules.yaml:3:18: rules.0.aggregates.0: must be one of "count", "sum", "mean", "min", "max", "variance", "stddev", "first", "last", "rate", or a quantile such as p50, p95 or p99.9',
    ],
  ],
  [
    "a scale factor that is not a number",
    ["sources:", "  - { name: s, topic: a/+, scale: { factor: .nan } }", "rules:", "  - name: a"],
    ["rules.yaml:2:45: sources.0.scale.factor: must be a finite number"],
  ],
  [
    "an infinite count window",
    ["rules:", "  - name: a", "    window: { type: count, n: 10, every: .inf }"],
    ["rules.yaml:3:42: rules.0.window.every: must be a finite number"],
  ],
  [
    "a topic level the filter does not have",
    [
      "sources:",
      '  - { name: s, topic: plant/+/temp, sensor: "{1}/{3}" }',
      "rules:",
      "  - name: a",
    ],
    ["rules.yaml:2:45: sources.0.sensor: {3}: the topic filter has 3 levels ({0} to {2})"],
  ],
  [
    "an empty sensor template",
    [
      "sources:",
      '  - { name: s, topic: a/+, format: number, sensor: "" }',
      "rules:",
      "  - name: a",
    ],
    ["rules.yaml:2:52: sources.0.sensor: must not be empty"],
  ],
  [
    "json fields on a senml source",
    [
      "sources:",
      "  - name: s",
      "    topic: a/+",
      "    format: senml",
      "    fields: { value: v }",
      "    time: s",
      "rules:",
      "  - name: a",
    ],
    [
      "rules.yaml:5:13: sources.0.fields: only json sources have fields (this one is senml)",
      "rules.yaml:6:11: sources.0.time: only json sources have time (this one is senml)",
    ],
  ],
  [
    "an output topic among the agent's own",
    ["rules:", "  - name: a", '    outputs: { local: "brook-internal/{device}/drain" }'],
    ["rules.yaml:3:23: rules.0.outputs.local: topics under brook-internal/ are the agent's own"],
  ],
  [
    "a hopping window of too many panes",
    ["rules:", "  - name: a", "    window: { type: hopping, size: 1d, hop: 7s }"],
    [
      "rules.yaml:3:45: rules.0.window.hop: the window would keep 86400 panes per key (at most 10000): make size a multiple of a longer hop",
    ],
  ],
  [
    "an ewma half-life below one reading",
    [
      "rules:",
      "  - name: a",
      "    detectors:",
      "      - { type: ewma, halfLife: 0.5, cooldown: 1 hour }",
    ],
    [
      "rules.yaml:4:33: rules.0.detectors.0.halfLife: must be >= 1",
      'rules.yaml:4:48: rules.0.detectors.0.cooldown: must be a duration such as "500ms", "30s", "5m" or "1h"',
    ],
  ],
  [
    "several problems in one file",
    [
      "rules:",
      "  - name: a",
      "    aggregates: [mean, p95x]",
      "  - name: b",
      "    window: { type: hopping, size: 1m, hop: 5m }",
      "  - name: a",
      "    sensors: 7",
    ],
    [
      'rules.yaml:3:24: rules.0.aggregates.1: must be one of "count", "sum", "mean", "min", "max", "variance", "stddev", "first", "last", "rate", or a quantile such as p50, p95 or p99.9',
      "rules.yaml:5:45: rules.1.window.hop: must be at most the size (1m)",
      'rules.yaml:6:11: rules.2.name: duplicate rule name "a"',
      "rules.yaml:7:14: rules.2.sensors: must be string",
    ],
  ],
  [
    "a JSON rules file",
    [
      "{",
      '  "rules": [',
      '    { "name": "a", "window": { "type": "count", "n": -1 } }',
      "  ]",
      "}",
    ],
    ["rules.yaml:3:54: rules.0.window.n: must be >= 1"],
  ],
];

describe("invalid rules files", () => {
  it("has at least 40 cases", () => ok(CASES.length >= 40, `${CASES.length} cases`));
  for (const [title, lines, problems] of CASES) {
    it(title, () => {
      const result = parseRulesSpec("rules.yaml", `${lines.join("\n")}\n`);
      deepStrictEqual(result.ok ? [] : result.problems.map(formatProblem), problems);
    });
  }
});
