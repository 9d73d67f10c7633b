import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRules } from "./load.js";
import { formatProblem } from "./validate-yaml.js";

const problemsOf = (text: string) => {
  const result = parseRules("rules.yaml", text);
  return result.ok ? [] : result.problems.map(formatProblem);
};

describe("rules file (foundation subset)", () => {
  it("compiles a tumbling rule with defaults", () => {
    deepStrictEqual(parseRules("rules.yaml", "rules:\n  - name: m\n"), {
      ok: true,
      rules: [
        {
          name: "m",
          sensors: "*",
          windowMs: 60_000,
          allowedLatenessMs: 0,
          aggregates: ["count", "mean", "min", "max"],
        },
      ],
    });
  });

  it("reads window size, lateness and aggregates", () => {
    const result = parseRules(
      "rules.yaml",
      "rules:\n  - name: m\n    sensors: pump-*\n    window: {type: tumbling, size: 15m}\n    allowedLateness: 30s\n    aggregates: [max]\n",
    );
    deepStrictEqual(result, {
      ok: true,
      rules: [
        {
          name: "m",
          sensors: "pump-*",
          windowMs: 900_000,
          allowedLatenessMs: 30_000,
          aggregates: ["max"],
        },
      ],
    });
  });

  it("reports every error with its position", () => {
    deepStrictEqual(
      problemsOf(
        "rules:\n  - name: a\n    window: {type: tumbling, size: 10 minutes}\n  - name: a\n    aggregates: [median]\n",
      ),
      [
        'rules.yaml:3:36: rules.0.window.size: must be a duration such as "500ms", "30s", "5m" or "1h"',
        'rules.yaml:5:18: rules.1.aggregates.0: must be one of "count", "mean", "min", "max"',
      ],
    );
    deepStrictEqual(
      problemsOf("rules:\n  - name: a\n  - name: a\n    window: {type: tumbling, size: 0s}\n"),
      [
        'rules.yaml:3:11: rules.1.name: duplicate rule name "a"',
        "rules.yaml:4:36: rules.1.window.size: must be longer than 0",
      ],
    );
  });
});
